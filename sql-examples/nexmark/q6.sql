-- Nexmark q6, average selling price by seller: the suite's text is not
-- valid Flink SQL, and Flink does not run it. It reads
--
--   SELECT Q.seller, AVG(Q.final) OVER
--       (PARTITION BY Q.seller ORDER BY Q.dateTime ROWS BETWEEN 10 PRECEDING AND CURRENT ROW)
--   FROM (
--       SELECT MAX(B.price) AS final, A.seller, B.dateTime
--       FROM auction AS A, bid AS B
--       WHERE A.id = B.auction and B.dateTime between A.dateTime and A.expires
--       GROUP BY A.id, A.seller
--   ) AS Q;
--
-- B.dateTime is selected but neither grouped nor aggregated (flowsql, like
-- any SQL engine, says so: "must appear in the GROUP BY clause"), and an
-- OVER window over an updating result (the maximum changes as bids come)
-- is what the suite's own note says Flink cannot run ("the OVER WINDOW
-- operator doesn't support to consume retractions"); flowsql refuses it
-- too. What runs instead: each seller's average selling price over all
-- their auctions (q4's question per seller rather than per category), an
-- updating result.
-- Run from the repository root:  flowsql -f sql-examples/nexmark/q6.sql

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

CREATE TABLE auction (
  id          BIGINT,
  itemName    VARCHAR,
  description VARCHAR,
  initialBid  BIGINT,
  reserve     BIGINT,
  dateTime    TIMESTAMP(3),
  expires     TIMESTAMP(3),
  seller      BIGINT,
  category    BIGINT,
  extra       VARCHAR,
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH (
  'connector' = 'nexmark',
  'table'     = 'auction',
  'events'    = '1000000',   -- of all kinds: 6% of them are auctions
  'seed'      = '42'
);

CREATE TABLE nexmark_q6 (
  seller    BIGINT,
  avg_price DOUBLE
) WITH (
  'connector' = 'blackhole'
);

INSERT INTO nexmark_q6
SELECT Q.seller, AVG(Q.final) AS avg_price
FROM (
    SELECT MAX(B.price) AS final, A.seller
    FROM auction AS A, bid AS B
    WHERE A.id = B.auction and B.dateTime between A.dateTime and A.expires
    GROUP BY A.id, A.seller
) AS Q
GROUP BY Q.seller;
