-- Nexmark q2, selection: the bids on every 123rd auction.
-- Run from the repository root:  flowsql -f sql-examples/nexmark/q2.sql

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

CREATE TABLE nexmark_q2 (auction BIGINT, price BIGINT)
WITH ('connector' = 'blackhole');

INSERT INTO nexmark_q2
SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0;
