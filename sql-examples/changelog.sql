-- Updating results: a GROUP BY without a window over a stream.
--
-- Each key's result is emitted when it changes, as a changelog: the first
-- column, op, says what a row does (+I insert, -U the old value of an
-- update, +U its new value, -D delete). Folding the changelog gives the
-- batch answer. Run: flowsql -f sql-examples/changelog.sql

CREATE TABLE bids (
  auction BIGINT, bidder BIGINT, price DOUBLE, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'data/bids/', 'format' = 'parquet');

-- Which operators emit updates.
EXPLAIN CHANGELOG_MODE
SELECT auction, COUNT(*) AS bids, MAX(price) AS top FROM bids GROUP BY auction;

-- Bids and top price per auction, kept up to date (every aggregate works:
-- DISTINCT, FILTER, HAVING, user-defined ones).
SELECT auction, COUNT(*) AS bids, MAX(price) AS top,
       COUNT(DISTINCT bidder) AS bidders,
       COUNT(*) FILTER (WHERE price > 400) AS high
FROM bids
GROUP BY auction
HAVING COUNT(*) > 10;

-- An aggregate of an aggregate: how many auctions have each number of
-- bids. The inner GROUP BY's updates retract the old count here.
SELECT bids, COUNT(*) AS auctions
FROM (SELECT auction, COUNT(*) AS bids FROM bids GROUP BY auction)
GROUP BY bids;

-- Into a sink: print shows each row's kind (+I[...], -U[...], +U[...]);
-- an append-only sink (filesystem, tcp) refuses an updating result.
CREATE TABLE totals (auction BIGINT, bids BIGINT) WITH ('connector' = 'print');
INSERT INTO totals SELECT auction, COUNT(*) FROM bids WHERE auction = 1001 GROUP BY auction;

-- Top-N: the two highest bids of each auction, with their rank. A new
-- higher bid changes each rank below it (-U the old row, +U the new).
SELECT * FROM (
  SELECT auction, bidder, price,
         ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rn
  FROM bids)
WHERE rn <= 2;

-- Deduplication: each bidder's last bid (updating) ...
SELECT auction, bidder, price, ts FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder ORDER BY ts DESC) AS rn FROM bids)
WHERE rn = 1;

-- ... and first bid (append-only: emitted once the watermark passes it).
SELECT auction, bidder, price, ts FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder ORDER BY ts) AS rn FROM bids)
WHERE rn = 1;

-- Top-N over an aggregate: the three auctions with the most bids so far.
SELECT * FROM (
  SELECT auction, bids, ROW_NUMBER() OVER (ORDER BY bids DESC, auction) AS place
  FROM (SELECT auction, COUNT(*) AS bids FROM bids GROUP BY auction))
WHERE place <= 3;

-- OVER aggregates (append-only, each row once the watermark passes it):
-- each bid with its auction's average and maximum over the last hour of
-- event time (one window for all, as Flink requires), ...
SELECT auction, price, ts,
       AVG(price) OVER last_hour AS hour_avg,
       MAX(price) OVER last_hour AS hour_max
FROM bids
WHERE auction = 1001
WINDOW last_hour AS (PARTITION BY auction ORDER BY ts
                     RANGE BETWEEN INTERVAL '1' HOUR PRECEDING AND CURRENT ROW);

-- ... and the sum of each bidder's last three bids.
SELECT bidder, price, ts,
       SUM(price) OVER (PARTITION BY bidder ORDER BY ts
                        ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS last3
FROM bids
WHERE bidder < 2003;

-- Into a filesystem table with a primary key: written as upserts by key,
-- the table the changelog folds to as one file (snapshot-<job>.csv),
-- replaced whole at each checkpoint and when the job ends.
CREATE TABLE per_auction (auction BIGINT, bids BIGINT, PRIMARY KEY (auction) NOT ENFORCED)
WITH ('connector' = 'filesystem', 'path' = 'changelog-output/per_auction/', 'format' = 'csv');
INSERT INTO per_auction SELECT auction, COUNT(*) FROM bids GROUP BY auction;
