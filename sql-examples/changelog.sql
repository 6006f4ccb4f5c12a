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
