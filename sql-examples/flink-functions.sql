-- Flink's scalar functions, written as Flink users write them, on a stream;
-- and SELECT DISTINCT over a stream (each distinct row once, as it arrives).
-- Run from the repository root:  flowsql -f sql-examples/flink-functions.sql

CREATE TABLE bids (
  auction  BIGINT,
  bidder   BIGINT,
  price    DOUBLE,
  ts       TIMESTAMP(3),
  minute   AS FLOOR(ts TO MINUTE),                 -- a computed column
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = 'data/bids/',
  'format'    = 'parquet'
);

-- Per batch, as rows arrive.
SELECT auction,
       DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm:ss') AS at,
       HOUR(ts) AS hour_of_day,
       TIMESTAMPDIFF(SECOND, minute, ts) AS seconds_into_minute,
       IF(price > 250, 'high', 'low') AS band
FROM bids
WHERE auction = 1001 AND price > 490;

-- JSON_VALUE, SPLIT_INDEX and REGEXP_EXTRACT on text.
SELECT JSON_VALUE('{"user": {"name": "ada"}}', '$.user.name') AS name,
       SPLIT_INDEX('a,b,c', ',', 1) AS second,
       REGEXP_EXTRACT('auction-1001', 'auction-(\d+)', 1) AS id;

-- LISTAGG inside a window.
SELECT window_start, LISTAGG(CAST(auction AS VARCHAR)) AS auctions_over_495
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
WHERE price > 495
GROUP BY window_start, window_end;

-- The auctions that ever had a bid over 495, each once, as they appear.
SELECT DISTINCT auction FROM bids WHERE price > 495;
