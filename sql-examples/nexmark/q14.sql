-- Nexmark q14, calculation: bids priced between 1M and 50M (in the
-- suite's other currency), each with the part of the day it was made in
-- (Flink's HOUR) and how many 'c's its extra text holds, counted by the
-- suite's UDF. The suite's CREATE FUNCTION names a Java class, flowsql
-- runs no Java, and the class name is that of a Rust function registered
-- under it (Engine::register_function_class: flowsql knows this one, the
-- suite's only UDF, from the start). The suite's text, backquotes as it
-- writes them (so the table declares `dateTime` the same way).
-- Run from the repository root:  flowsql -f sql-examples/nexmark/q14.sql

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

CREATE FUNCTION count_char AS 'com.github.nexmark.flink.udf.CountChar';

CREATE TABLE nexmark_q14 (
    auction BIGINT,
    bidder BIGINT,
    price  DECIMAL(23, 3),
    bidTimeType VARCHAR,
    `dateTime` TIMESTAMP(3),
    extra VARCHAR,
    c_counts BIGINT
) WITH (
  'connector' = 'blackhole'
);

INSERT INTO nexmark_q14
SELECT
    auction,
    bidder,
    0.908 * price as price,
    CASE
        WHEN HOUR(`dateTime`) >= 8 AND HOUR(`dateTime`) <= 18 THEN 'dayTime'
        WHEN HOUR(`dateTime`) <= 6 OR HOUR(`dateTime`) >= 20 THEN 'nightTime'
        ELSE 'otherTime'
    END AS bidTimeType,
    `dateTime`,
    extra,
    count_char(extra, 'c') AS c_counts
FROM bid
WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000;
