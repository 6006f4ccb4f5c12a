-- Nexmark q7, highest bid: the bids of each 10-second window (TUMBLE)
-- with its highest price, as the suite writes it: the bid stream joined
-- with the windowed maximum, keeping the bids whose time is in the 10
-- seconds up to the window's end (a bid exactly on a window's end counts
-- in both windows it touches). The window's end is a plain timestamp, not
-- an event time (window_time is), so, as in Flink, this is a regular
-- join: every bid is held. Joining within the window instead (both sides
-- over the same TUMBLE, ON B.window_start = B1.window_start AND
-- B.window_end = B1.window_end) frees each window's bids when it closes.
-- Run from the repository root:  flowsql -f sql-examples/nexmark/q7.sql

CREATE TABLE bid (
  auction  BIGINT,
  bidder   BIGINT,
  price    BIGINT,
  channel  VARCHAR,
  url      VARCHAR,
  dateTime TIMESTAMP(3),
  extra    VARCHAR,
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH (
  'connector' = 'nexmark',
  'table'     = 'bid',
  'events'    = '1000000',   -- of all kinds: 92% of them are bids
  'seed'      = '42'
);

CREATE TABLE nexmark_q7 (
  auction  BIGINT,
  bidder  BIGINT,
  price  BIGINT,
  dateTime  TIMESTAMP(3),
  extra  VARCHAR
) WITH (
  'connector' = 'blackhole'
);

INSERT INTO nexmark_q7
SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra
from bid B
JOIN (
  SELECT MAX(price) AS maxprice, window_end as dateTime
  FROM TABLE(
          TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
  GROUP BY window_start, window_end
) B1
ON B.price = B1.maxprice
WHERE B.dateTime BETWEEN B1.dateTime  - INTERVAL '10' SECOND AND B1.dateTime;
