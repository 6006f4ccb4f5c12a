-- Nexmark q3, local item suggestion: who sells in OR, ID or CA in
-- category 10, and which auctions. A regular inner join of two streams:
-- both sides' rows are held (every person and auction seen), each arrival
-- joined with the other side's rows so far; append-only.
-- Run from the repository root:  flowsql -f sql-examples/nexmark/q3.sql

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

CREATE TABLE person (
  id           BIGINT,
  name         VARCHAR,
  emailAddress VARCHAR,
  creditCard   VARCHAR,
  city         VARCHAR,
  state        VARCHAR,
  dateTime     TIMESTAMP(3),
  extra        VARCHAR,
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH (
  'connector' = 'nexmark',
  'table'     = 'person',
  'events'    = '1000000',   -- of all kinds: 2% of them are people
  'seed'      = '42'
);

CREATE TABLE nexmark_q3 (
  name  VARCHAR,
  city  VARCHAR,
  state  VARCHAR,
  id  BIGINT
) WITH (
  'connector' = 'blackhole'
);

INSERT INTO nexmark_q3
SELECT
    P.name, P.city, P.state, A.id
FROM
    auction AS A INNER JOIN person AS P on A.seller = P.id
WHERE
    A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA');
