-- Temporal joins: each order converted at the rate of its currency that
-- was valid when the order was made (the Flink docs' example).
--
-- currency_rates is a versioned table: a stream with a PRIMARY KEY (each
-- row a new version of its currency's rate, valid from its own update_time
-- on) and a WATERMARK. An order waits until both streams' watermarks pass
-- its time, then joins the latest version at or before it; versions no
-- order can still need are dropped. LEFT keeps an order whose currency has
-- no rate yet (GBP before 08:15).
-- Run from the repository root:  flowsql -f sql-examples/temporal_join.sql

CREATE TABLE orders (
  order_id   STRING,
  price      DECIMAL(32, 2),
  currency   STRING,
  order_time TIMESTAMP(3),
  WATERMARK FOR order_time AS order_time - INTERVAL '30' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'data/fx_orders.csv', 'format' = 'csv');

CREATE TABLE currency_rates (
  currency        STRING,
  conversion_rate DECIMAL(32, 2),
  update_time     TIMESTAMP(3),
  WATERMARK FOR update_time AS update_time - INTERVAL '30' SECOND,
  PRIMARY KEY (currency) NOT ENFORCED
) WITH ('connector' = 'filesystem', 'path' = 'data/currency_rates.csv', 'format' = 'csv');

SELECT
     order_id,
     price,
     orders.currency,
     conversion_rate,
     order_time
FROM orders
LEFT JOIN currency_rates FOR SYSTEM_TIME AS OF orders.order_time
ON orders.currency = currency_rates.currency;

-- The same join, inner, converting: orders of 30 or more in their own
-- currency, with the version each was converted at.
SELECT o.order_id, o.price * r.conversion_rate AS converted, r.update_time AS rate_from
FROM orders AS o
JOIN currency_rates FOR SYSTEM_TIME AS OF o.order_time AS r
ON o.currency = r.currency
WHERE o.price >= 30;

-- A processing-time lookup: the rates file read as a bounded table (no
-- WATERMARK) joined as of each order's PROCTIME(); every row of the
-- table is a match, whatever its update_time (a lookup sees the table as
-- it is, not its history).
CREATE TABLE rates_now (currency STRING, conversion_rate DECIMAL(32, 2), update_time TIMESTAMP(3))
WITH ('connector' = 'filesystem', 'path' = 'data/currency_rates.csv', 'format' = 'csv');

SELECT o.order_id, o.currency, COUNT(*) AS rates_listed
FROM (SELECT *, PROCTIME() AS seen FROM orders) AS o
JOIN rates_now FOR SYSTEM_TIME AS OF o.seen AS r
ON o.currency = r.currency
WHERE o.order_id <= 'o_005'
GROUP BY o.order_id, o.currency;
