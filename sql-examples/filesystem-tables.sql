-- The filesystem connector: CSV, Parquet and JSON files, directories and globs,
-- computed columns. Run from the repository root:
--   flowsql -f sql-examples/filesystem-tables.sql

-- CSV with a header (the default; 'csv.header' = 'false' for none).
CREATE TABLE bids_csv (
  auction BIGINT,
  bidder  BIGINT,
  price   DOUBLE,
  ts      TIMESTAMP(3)
) WITH (
  'connector' = 'filesystem',
  'path'      = 'data/bids.csv',
  'format'    = 'csv'
);

-- Only some files of a directory, with a glob; computed columns derived per row.
CREATE TABLE early_bids (
  auction BIGINT,
  price   DOUBLE,
  ts      TIMESTAMP(3),
  minute  AS DATE_TRUNC('minute', ts),
  cents   AS CAST(price * 100 AS BIGINT)
) WITH (
  'connector' = 'filesystem',
  'path'      = 'data/bids/part-000*.parquet',
  'format'    = 'parquet'
);

SELECT minute, COUNT(*) AS bids, MAX(cents) AS top_cents
FROM early_bids
GROUP BY minute
ORDER BY minute;

-- DataFusion's own DDL works alongside.
CREATE EXTERNAL TABLE auction_items STORED AS JSON LOCATION 'data/auctions.json';

CREATE VIEW busy_auctions AS
SELECT auction, COUNT(*) AS bids FROM bids_csv GROUP BY auction HAVING COUNT(*) > 125;

SELECT v.auction, a.item, v.bids
FROM busy_auctions v JOIN auction_items a ON v.auction = a.id
ORDER BY v.auction;

-- Write a result out and read it back.
COPY (SELECT auction, MAX(price) AS top FROM bids_csv GROUP BY auction)
TO 'target/flowsql-example-top-bids.parquet' STORED AS PARQUET;

CREATE TABLE top_bids (auction BIGINT, top DOUBLE) WITH (
  'connector' = 'filesystem',
  'path'      = 'target/flowsql-example-top-bids.parquet',
  'format'    = 'parquet'
);

SELECT COUNT(*) AS auctions, MAX(top) AS best FROM top_bids;

-- The same tables live in object stores: a path of s3://, gs:// or az://
-- reads, and a job's sink writes, there (credentials and endpoint from the
-- environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
-- AWS_ENDPOINT_URL...). Each file is one multipart upload, visible only
-- when complete (in a checkpointed job: when its checkpoint commits).
-- Left as a comment here, as it needs a bucket:
--
--   CREATE TABLE per_auction_s3 (auction BIGINT, bids BIGINT, top DOUBLE) WITH (
--     'connector' = 'filesystem',
--     'path'      = 's3://my-bucket/per-auction/',
--     'format'    = 'parquet'
--   );
--   INSERT INTO per_auction_s3
--   SELECT auction, COUNT(*), MAX(price) FROM bids_csv GROUP BY auction;
