-- Peak memory of a tumbling query over the nexmark generator (issue 6:
-- under 1 GiB at 10M events, and no higher at 50M). EVENTS is replaced by
-- the event count; see BENCHMARKS.md:
--   sed s/EVENTS/10000000/ benches/peak_memory.sql | /usr/bin/time -v flowsql -q -f -
CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, date_time TIMESTAMP(3),
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
WITH ('connector' = 'nexmark', 'table' = 'bid', 'events' = 'EVENTS', 'seed' = '42');

CREATE TABLE per_minute (window_start TIMESTAMP(3), auction BIGINT, bids BIGINT,
  total BIGINT, top BIGINT, mean DOUBLE)
WITH ('connector' = 'blackhole');

INSERT INTO per_minute
SELECT window_start, auction, COUNT(*), SUM(price), MAX(price), AVG(price)
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, auction;
