-- Joins and several streams in one query.
--
-- A window join joins two windowed streams within each window (on
-- window_start and window_end, besides any keys): every join kind, emitted
-- once, when the watermark of both streams (the lesser of the two) passes
-- the window's end; the window's rows are freed then. An interval join
-- bounds one stream's event time by the other's; a regular join does not
-- (an outer one is updating, and so is one of updating inputs, such as two
-- GROUP BY results). A stream joined with
-- a bounded table (no WATERMARK) looks each row up in the table, read once
-- into a hash table. Streams may also be unioned under one window, and
-- windows of different sizes unioned in one query.
-- Run: flowsql -f sql-examples/joins.sql

CREATE TABLE bids (
  auction BIGINT, bidder BIGINT, price DOUBLE, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'data/bids/', 'format' = 'parquet');

-- The same bids as a second stream, as another source would send them.
CREATE TABLE more_bids (
  auction BIGINT, bidder BIGINT, price DOUBLE, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '10' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'data/bids/', 'format' = 'parquet');

-- A bounded table: the auctions' details.
CREATE TABLE auctions (id BIGINT, item VARCHAR, category VARCHAR, reserve DOUBLE)
WITH ('connector' = 'filesystem', 'path' = 'data/auctions.json', 'format' = 'json');

-- Window join: each 2-minute window's bids per auction in one stream
-- beside the highest bid of that auction in the other (LEFT: an auction
-- with no bid over 400 in the second stream keeps a NULL).
SELECT L.window_start, L.auction, L.bids, R.top
FROM (
  SELECT window_start, window_end, auction, COUNT(*) AS bids
  FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '2' MINUTE))
  GROUP BY window_start, window_end, auction
) L
LEFT JOIN (
  SELECT window_start, window_end, auction, MAX(price) AS top
  FROM TABLE(TUMBLE(TABLE more_bids, DESCRIPTOR(ts), INTERVAL '2' MINUTE))
  WHERE price > 400
  GROUP BY window_start, window_end, auction
) R
ON L.auction = R.auction AND L.window_start = R.window_start AND L.window_end = R.window_end
ORDER BY L.window_start, L.auction
LIMIT 8;

-- Window semi join: the bidders of each window who also bid over 450 in
-- the other stream in the same window (IN, EXISTS, NOT EXISTS work alike).
SELECT L.window_start, COUNT(DISTINCT L.bidder) AS bidders
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '2' MINUTE)) L
WHERE L.bidder IN (
  SELECT R.bidder FROM TABLE(TUMBLE(TABLE more_bids, DESCRIPTOR(ts), INTERVAL '2' MINUTE)) R
  WHERE R.price > 450 AND L.window_start = R.window_start AND L.window_end = R.window_end)
GROUP BY L.window_start, L.window_end;

-- Interval join: each high bid beside the other stream's higher bids on
-- the same auction by someone else within 30 seconds of it (rows held until
-- the watermark passes their bound; LEFT keeps a bid with none, emitted
-- once its bound is past).
SELECT b.auction, b.bidder, b.price, o.bidder AS other_bidder, o.price AS other_price
FROM bids b LEFT JOIN more_bids o
ON b.auction = o.auction AND b.bidder <> o.bidder AND o.price > b.price
   AND b.ts BETWEEN o.ts - INTERVAL '30' SECOND AND o.ts + INTERVAL '30' SECOND
WHERE b.price > 495;

-- Regular outer join (no time bounds): each bid over 498 beside the
-- auctions its bidder bid over 499 on in the other stream. Updating: a
-- bidder's bid comes out NULL-padded at once (+I) and is taken back (-D)
-- when a match arrives; every row of both streams is held.
SELECT b.bidder, b.price, o.auction AS also_on
FROM (SELECT bidder, price FROM bids WHERE price > 498) b
LEFT JOIN (SELECT bidder, auction FROM more_bids WHERE price > 499) o
ON b.bidder = o.bidder;

-- A join of updating inputs: each auction's bid count in one stream
-- beside its top price in the other, both unbounded GROUP BYs. Each
-- side's updates (-U, +U) take its held row back and retract what it was
-- joined into, so the result follows both aggregates.
SELECT c.auction, c.bids, t.top
FROM (SELECT auction, COUNT(*) AS bids FROM bids GROUP BY auction) c
JOIN (SELECT auction, MAX(price) AS top FROM more_bids GROUP BY auction) t
ON c.auction = t.auction
WHERE c.bids > 13;

-- A window over the UNION ALL of two streams: its watermark is the lesser.
CREATE TEMPORARY VIEW all_bids AS
SELECT auction, price, ts FROM bids UNION ALL SELECT auction, price, ts FROM more_bids;

SELECT window_start, COUNT(*) AS bids, MAX(price) AS top
FROM TABLE(TUMBLE(TABLE all_bids, DESCRIPTOR(ts), INTERVAL '2' MINUTE))
GROUP BY window_start, window_end;

-- Two windows of different sizes over one stream, in one query.
SELECT '2 min' AS w, window_start, COUNT(*) AS bids
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '2' MINUTE))
GROUP BY window_start, window_end
UNION ALL
SELECT '5 min', window_start, COUNT(*)
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '5' MINUTE))
GROUP BY window_start, window_end;

-- Enrichment: each bid with its auction's details, looked up as it arrives.
EXPLAIN SELECT b.auction, a.category, b.price FROM bids b JOIN auctions a ON b.auction = a.id;

SELECT a.category, b.auction, b.price, b.price >= a.reserve AS over_reserve
FROM bids b JOIN auctions a ON b.auction = a.id
WHERE b.price > 495;
