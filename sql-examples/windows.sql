-- Windowed aggregation over a stream: a table with a WATERMARK is read as a
-- stream and each window is emitted once, when the watermark passes its end.
-- Run from the repository root:  flowsql -f sql-examples/windows.sql

CREATE TABLE bids (
  auction  BIGINT,
  bidder   BIGINT,
  price    DOUBLE,
  ts       TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = 'data/bids/',
  'format'    = 'parquet'
);

-- The operator pipeline the query runs as.
EXPLAIN SELECT window_start, window_end, COUNT(*)
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end;

-- SPEC section 3, as written: bids and top price per auction every 10 seconds.
SELECT window_start, window_end, auction, COUNT(*) AS bids, MAX(price) AS top
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, auction;

-- SPEC section 3's group-window form, as written.
SELECT auction, TUMBLE_START(ts, INTERVAL '1' MINUTE) AS ws, SUM(price)
FROM bids GROUP BY auction, TUMBLE(ts, INTERVAL '1' MINUTE);

-- Bids and top price per minute: one result per window, as windows close.
SELECT window_start, window_end, COUNT(*) AS bids, MAX(price) AS top
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end;

-- Two-minute windows every minute (HOP takes the slide first).
SELECT window_start, window_end, COUNT(DISTINCT bidder) AS bidders
FROM TABLE(HOP(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '2' MINUTE))
GROUP BY window_start, window_end;

-- Running totals that grow every minute within each 3-minute period.
SELECT window_start, window_end, ROUND(SUM(price), 2) AS turnover
FROM TABLE(CUMULATE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '3' MINUTE))
GROUP BY window_start, window_end;

-- Bidding sessions per auction: bids at most 2 seconds apart, the longest first
-- within each emission.
SELECT auction, window_start, window_end, COUNT(*) AS bids
FROM TABLE(SESSION(TABLE bids PARTITION BY auction, DESCRIPTOR(ts), INTERVAL '2' SECOND))
GROUP BY window_start, window_end, auction
HAVING COUNT(*) >= 8;

-- Flink's group-window syntax.
SELECT auction, TUMBLE_START(ts, INTERVAL '2' MINUTE) AS ws, ROUND(AVG(price), 2) AS avg_price
FROM bids
GROUP BY auction, TUMBLE(ts, INTERVAL '2' MINUTE)
HAVING auction = 1001;

-- Windows on processing time: DESCRIPTOR names a PROCTIME() column. Each
-- row takes the wall clock as it reaches the window and a window closes when
-- the clock passes its end, so the counts depend on when this runs (the
-- file is read in well under a second: one or two windows), and every bid is
-- counted once.
CREATE VIEW bids_seen AS SELECT *, PROCTIME() AS seen FROM bids;

SELECT window_start, window_end, COUNT(*) AS bids
FROM TABLE(HOP(TABLE bids_seen, DESCRIPTOR(seen), INTERVAL '5' SECOND, INTERVAL '10' SECOND))
GROUP BY window_start, window_end;

-- The same on a generated stream, PROCTIME() a computed column of the
-- table as Flink declares it (tcp tables take it the same way). The 100,000
-- events are generated in well under a second: one or two windows.
CREATE TABLE live_bids (auction BIGINT, price BIGINT, p AS PROCTIME())
WITH ('connector' = 'nexmark', 'table' = 'bid', 'events' = '100000');

SELECT window_start, window_end, COUNT(*) AS bids
FROM TABLE(TUMBLE(TABLE live_bids, DESCRIPTOR(p), INTERVAL '1' SECOND))
GROUP BY window_start, window_end;
