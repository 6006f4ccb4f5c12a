-- Views over streams and cascading windows.
--
-- A view over a stream is its query: reading it reads the stream. A window
-- over a view windows the view's rows; a window over the window_time of a
-- windowed view cascades, as Flink's docs show (the inner window's rows
-- reach the outer window as the inner one closes).
-- Run: flowsql -f sql-examples/views.sql

CREATE TABLE bids (
  auction BIGINT, bidder BIGINT, price DOUBLE, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'data/bids/', 'format' = 'parquet');

-- A filtered view, windowed.
CREATE TEMPORARY VIEW big_bids AS SELECT auction, price, ts FROM bids WHERE price > 250;

SELECT window_start, COUNT(*) AS bids, MAX(price) AS top
FROM TABLE(TUMBLE(TABLE big_bids, DESCRIPTOR(ts), INTERVAL '10' MINUTE))
GROUP BY window_start, window_end;

-- Cascading: 5-minute totals per auction, then 10-minute totals of those.
CREATE TEMPORARY VIEW five_minutes AS
SELECT auction, window_start AS start_5, window_end AS end_5, window_time AS rowtime,
       SUM(price) AS partial
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '5' MINUTE))
GROUP BY auction, window_start, window_end, window_time;

SELECT window_start, window_end, SUM(partial) AS total
FROM TABLE(TUMBLE(TABLE five_minutes, DESCRIPTOR(rowtime), INTERVAL '10' MINUTE))
GROUP BY window_start, window_end;
