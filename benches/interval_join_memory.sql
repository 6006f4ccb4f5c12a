-- Peak memory of an interval join of two Nexmark bid streams (issue 15:
-- flat over 100M events), into a blackhole sink. EVENTS is replaced by the
-- event count; see BENCHMARKS.md:
--   sed s/EVENTS/10000000/ benches/interval_join_memory.sql | /usr/bin/time -v flowsql -q -f -
CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, date_time TIMESTAMP(3),
  WATERMARK FOR date_time AS date_time - INTERVAL '1' SECOND)
WITH ('connector' = 'nexmark', 'table' = 'bid', 'events' = 'EVENTS', 'seed' = '1');

CREATE TABLE other (auction BIGINT, bidder BIGINT, price BIGINT, date_time TIMESTAMP(3),
  WATERMARK FOR date_time AS date_time - INTERVAL '1' SECOND)
WITH ('connector' = 'nexmark', 'table' = 'bid', 'events' = 'EVENTS', 'seed' = '2');

CREATE TABLE pairs (auction BIGINT, price BIGINT, other_price BIGINT)
WITH ('connector' = 'blackhole');

-- Each bid with the other stream's bids on the same auction by the same
-- bidder within a second.
INSERT INTO pairs
SELECT b.auction, b.price, o.price FROM bid b JOIN other o
ON b.auction = o.auction AND b.bidder = o.bidder
   AND b.date_time BETWEEN o.date_time - INTERVAL '1' SECOND AND o.date_time + INTERVAL '1' SECOND;
