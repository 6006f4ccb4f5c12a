-- Nexmark q13, bounded side input join: each bid enriched with the row of
-- a bounded file that its auction id (mod 10000) names. The suite's text:
-- a lookup join on processing time (FOR SYSTEM_TIME AS OF a PROCTIME()
-- column), so each bid joins the side input as it is when the bid is
-- read. flowsql loads the file once, into a hash table, when the query
-- starts. The side input is the suite's own (line i is "i,i"), bundled
-- headerless as the suite's generator writes it. The suite declares it
-- with Flink's legacy connector options, here with the filesystem
-- connector's.
-- Run from the repository root:  flowsql -f sql-examples/nexmark/q13.sql

CREATE TABLE bid (
  auction    BIGINT,
  bidder     BIGINT,
  price      BIGINT,
  channel    VARCHAR,
  url        VARCHAR,
  `dateTime` TIMESTAMP(3),
  extra      VARCHAR,
  WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH (
  'connector' = 'nexmark',
  'table'     = 'bid',
  'events'    = '1000000',   -- of all kinds: 92% of them are bids
  'seed'      = '42'
);

CREATE TABLE side_input (
  key BIGINT,
  `value` VARCHAR
) WITH (
  'connector'  = 'filesystem',
  'path'       = 'data/nexmark/side_input.txt',
  'format'     = 'csv',
  'csv.header' = 'false'
);

CREATE TABLE nexmark_q13 (
  auction  BIGINT,
  bidder  BIGINT,
  price  BIGINT,
  `dateTime`  TIMESTAMP(3),
  `value`  VARCHAR
) WITH (
  'connector' = 'blackhole'
);

INSERT INTO nexmark_q13
SELECT
    B.auction,
    B.bidder,
    B.price,
    B.`dateTime`,
    S.`value`
FROM (SELECT *, PROCTIME() as p_time FROM bid) B
JOIN side_input FOR SYSTEM_TIME AS OF B.p_time AS S
ON mod(B.auction, 10000) = S.key;
