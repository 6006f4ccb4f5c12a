-- Nexmark q7, highest bid: the bids with the highest price of each
-- 10-second window (TUMBLE).
-- Flink's text joins the raw bid stream with the windowed maximum and keeps
-- bids with date_time BETWEEN window_end - 10 s AND window_end; flowsql
-- joins within the window instead (both sides over the same TUMBLE, on
-- window_start and window_end), which is the same up to a bid exactly on a
-- window's end (Flink's BETWEEN counts it in both windows).
-- Run from the repository root:  flowsql -f sql-examples/nexmark/q7.sql

CREATE TABLE bid (
  auction   BIGINT,
  bidder    BIGINT,
  price     BIGINT,
  channel   VARCHAR,
  url       VARCHAR,
  date_time TIMESTAMP(3),
  extra     VARCHAR,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH (
  'connector' = 'nexmark',
  'table'     = 'bid',
  'events'    = '1000000',   -- all kinds; 92% of them are bids
  'seed'      = '42'
);

CREATE TABLE nexmark_q7 (auction BIGINT, price BIGINT, bidder BIGINT, date_time TIMESTAMP(3), extra VARCHAR)
WITH ('connector' = 'blackhole');

INSERT INTO nexmark_q7
SELECT B.auction, B.price, B.bidder, B.date_time, B.extra
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND)) B
JOIN (
  SELECT MAX(price) AS maxprice, window_start, window_end
  FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
  GROUP BY window_start, window_end
) B1
ON B.price = B1.maxprice
   AND B.window_start = B1.window_start
   AND B.window_end = B1.window_end;
