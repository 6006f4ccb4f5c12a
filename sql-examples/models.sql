-- Models in SQL: train, inspect, evaluate and apply linear and logistic models, trees, forests, boosted trees and k-means.
-- Models are stored under --data-dir (default ./.flowsql), one file per version.
-- Run from the repository root:  flowsql -f sql-examples/models.sql

-- Houses whose price depends on size, rooms and area (a category).
CREATE TABLE houses AS
SELECT value AS id,
       CAST(value % 37 AS DOUBLE) * 10 + 500 AS sqft,
       CAST(value % 5 + 1 AS DOUBLE) AS rooms,
       CASE WHEN value % 3 = 0 THEN 'north' WHEN value % 3 = 1 THEN 'south' ELSE 'east' END AS area,
       1000.0 + 3.0 * (CAST(value % 37 AS DOUBLE) * 10 + 500) + 250.0 * (value % 5 + 1)
         + CASE WHEN value % 3 = 0 THEN 100.0 ELSE 0.0 END
         + (value * 7919 % 101) - 50 AS price
FROM generate_series(1, 500);

-- Train on 80% of the rows; every run makes a new version.
SELECT * FROM TRAIN_LINEAR('price_model', (SELECT sqft, rooms, area, price FROM houses WHERE id % 5 <> 0), 'price');

-- Ridge regression on chosen features.
SELECT * FROM TRAIN_LINEAR('price_ridge', TABLE houses, 'price',
                           features => ARRAY['sqft', 'rooms'], l2 => 10.0);

SHOW MODELS;
-- One row per property: features, parameters, metrics, coefficients.
DESCRIBE MODEL price_model;
-- The weights as rows (the area's categories get one each).
SELECT * FROM ML_WEIGHTS('price_model');

-- How it does on the 20% it did not see.
SELECT * FROM EVALUATE('price_model', (SELECT * FROM houses WHERE id % 5 = 0));

-- Predictions: the input columns plus `prediction` and `model_version`.
SELECT id, price, ROUND(prediction, 1) AS predicted, model_version
FROM PREDICT('price_model', (SELECT * FROM houses WHERE id % 5 = 0))
ORDER BY id
LIMIT 5;

-- The scalar form, in the model's feature order (DESCRIBE MODEL lists it).
SELECT id, ROUND(PREDICT('price_ridge', sqft, rooms), 1) AS ridge_prediction
FROM houses ORDER BY id LIMIT 3;

DROP MODEL price_ridge;

-- Trees and forests: the label's type picks classification or regression.
CREATE TABLE customers AS
SELECT value AS id, CAST(value % 13 AS DOUBLE) AS tenure, CAST(value % 7 AS DOUBLE) AS tickets,
       CASE WHEN value % 13 < 4 AND value % 7 > 2 THEN 'yes' ELSE 'no' END AS churned
FROM generate_series(1, 600);

SELECT * FROM TRAIN_TREE('churn_tree', (SELECT tenure, tickets, churned FROM customers WHERE id % 4 <> 0), 'churned', max_depth => 5);
SELECT * FROM TRAIN_FOREST('churn', (SELECT tenure, tickets, churned FROM customers WHERE id % 4 <> 0), 'churned',
                           num_trees => 50, max_depth => 8, seed => 42);
SELECT * FROM EVALUATE('churn', (SELECT * FROM customers WHERE id % 4 = 0));

-- A classifier's scalar PREDICT gives class names.
SELECT tenure, tickets, PREDICT('churn', tenure, tickets) AS churn
FROM customers ORDER BY id LIMIT 3;

-- Which features the forest split on most.
SELECT * FROM ML_FEATURE_IMPORTANCE('churn') ORDER BY importance DESC;

-- Gradient-boosted trees (log-loss here; squared error for a numeric label).
SELECT * FROM TRAIN_GBT('churn_gbt', (SELECT tenure, tickets, churned FROM customers WHERE id % 4 <> 0), 'churned',
                        num_trees => 200, learning_rate => 0.1, max_depth => 6);
SELECT * FROM EVALUATE('churn_gbt', (SELECT * FROM customers WHERE id % 4 = 0));

-- ML calls compose with the rest of SQL: two models scored side by side.
WITH test AS (SELECT * FROM customers WHERE id % 4 = 0)
SELECT 'forest' AS model, accuracy FROM EVALUATE('churn', TABLE test)
UNION ALL
SELECT 'boosted', accuracy FROM EVALUATE('churn_gbt', TABLE test);

-- Logistic regression (l2 is scikit-learn's 1/C): PREDICT adds the
-- probability of the predicted class.
SELECT * FROM TRAIN_LOGISTIC('churn_lr', (SELECT tenure, tickets, churned FROM customers WHERE id % 4 <> 0), 'churned', l2 => 1.0);
SELECT * FROM EVALUATE('churn_lr', (SELECT * FROM customers WHERE id % 4 = 0));
SELECT id, tenure, tickets, prediction, ROUND(probability, 3) AS probability
FROM PREDICT('churn_lr', (SELECT * FROM customers WHERE id % 4 = 0))
ORDER BY id LIMIT 5;

-- k-means: segments of customers by tenure and tickets (no label).
SELECT * FROM TRAIN_KMEANS('segments', (SELECT tenure, tickets FROM customers), k => 3, n_init => 10, seed => 42);
SELECT cluster, COUNT(*) AS customers, ROUND(AVG(tenure), 2) AS tenure, ROUND(AVG(tickets), 2) AS tickets
FROM PREDICT('segments', TABLE customers) GROUP BY cluster ORDER BY cluster;
SELECT * FROM EVALUATE('segments', (SELECT tenure, tickets FROM customers));

-- On a stream: each bid priced as it arrives, with the model version that
-- priced it (retraining 'bid_price' meanwhile would show in model_version).
CREATE TABLE bid_history (auction BIGINT, bidder BIGINT, price DOUBLE, ts TIMESTAMP(3))
WITH ('connector' = 'filesystem', 'path' = 'data/bids/', 'format' = 'parquet');
CREATE TABLE bid_stream (auction BIGINT, bidder BIGINT, price DOUBLE, ts TIMESTAMP(3),
                         WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
WITH ('connector' = 'filesystem', 'path' = 'data/bids/', 'format' = 'parquet');

SELECT * FROM TRAIN_TREE('bid_price', (SELECT auction, bidder, price FROM bid_history), 'price', max_depth => 4);

SELECT ts, auction, bidder, price, ROUND(prediction, 2) AS predicted, model_version
FROM PREDICT('bid_price', TABLE bid_stream)
WHERE bidder <= 7 AND auction = 1003;
