-- Nexmark q12, as the suite writes it: bids per bidder per 10-second window
-- of processing time. The window is on p_time, a PROCTIME() column of the
-- view B: each row takes the wall clock as it reaches the window, and a
-- window closes when the wall clock passes its end (whether bids keep
-- coming or not). Which window a bid lands in depends on when it runs, so
-- the windows differ from run to run, but each bid is counted once.
-- Run from the repository root:  flowsql -f sql-examples/nexmark/q12.sql

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
  'events'    = '1000000',   -- all kinds, 92% of them bids
  'seed'      = '42'
);

CREATE TABLE nexmark_q12 (bidder BIGINT, bid_count BIGINT, starttime TIMESTAMP(3), endtime TIMESTAMP(3))
WITH ('connector' = 'blackhole');

CREATE VIEW B AS SELECT *, PROCTIME() as p_time FROM bid;

INSERT INTO nexmark_q12
SELECT
    bidder,
    count(*) as bid_count,
    window_start AS starttime,
    window_end AS endtime
FROM TABLE(
        TUMBLE(TABLE B, DESCRIPTOR(p_time), INTERVAL '10' SECOND))
GROUP BY bidder, window_start, window_end;
