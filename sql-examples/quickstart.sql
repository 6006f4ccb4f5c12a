-- flowsql quickstart: tables over the bundled data in data/, queried with SQL.
-- Run it from the repository root:  flowsql -f sql-examples/quickstart.sql

-- A Flink-style table over a directory of Parquet files.
CREATE TABLE bids (
  auction  BIGINT,
  bidder   BIGINT,
  price    DOUBLE,
  ts       TIMESTAMP(3)
) WITH (
  'connector' = 'filesystem',
  'path'      = 'data/bids/',
  'format'    = 'parquet'
);

-- A table over newline-delimited JSON.
CREATE TABLE auctions (
  id       BIGINT,
  item     VARCHAR,
  category VARCHAR,
  reserve  DOUBLE
) WITH (
  'connector' = 'filesystem',
  'path'      = 'data/auctions.json',
  'format'    = 'json'
);

-- Bids and top price per auction.
SELECT auction, COUNT(*) AS bids, MAX(price) AS top, ROUND(AVG(price), 2) AS avg_price
FROM bids
GROUP BY auction
ORDER BY auction;

-- Bids per category and minute, joining the two tables.
SELECT a.category, DATE_TRUNC('minute', b.ts) AS minute, COUNT(*) AS bids
FROM bids b JOIN auctions a ON b.auction = a.id
GROUP BY a.category, DATE_TRUNC('minute', b.ts)
ORDER BY minute, a.category
LIMIT 8;

-- Auctions whose best bid beat the reserve by the widest margin.
SELECT a.item, a.reserve, MAX(b.price) AS top, MAX(b.price) - a.reserve AS margin
FROM bids b JOIN auctions a ON b.auction = a.id
GROUP BY a.item, a.reserve
ORDER BY margin DESC
LIMIT 3;
