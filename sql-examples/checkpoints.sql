-- A checkpointed job: killed at any moment and run again under the same
-- name, it goes on from its last checkpoint, and its output files hold each
-- window's row exactly once. Checkpoints are written every second under
-- <data-dir>/checkpoints/example-bids-per-auction/; files appear in the
-- sink's directory as checkpoints complete.
-- Run from the repository root:  flowsql -f sql-examples/checkpoints.sql
-- (A changed query under the same name is refused: its checkpoints hold
-- another query's state. Use another name, or delete that directory.)

SET 'execution.checkpointing.interval' = '1s';
SET 'pipeline.name' = 'example-bids-per-auction';

CREATE TABLE bids (
  auction  BIGINT,
  bidder   BIGINT,
  price    DOUBLE,
  ts       TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = 'data/bids/',
  'format'    = 'parquet'
);

CREATE TABLE per_auction (
  window_start TIMESTAMP(3),
  window_end   TIMESTAMP(3),
  auction      BIGINT,
  bids         BIGINT,
  top          DOUBLE
) WITH (
  'connector' = 'filesystem',
  'path'      = 'target/flowsql-example-checkpointed/',
  'format'    = 'csv'
);

-- Prints the job's number; the script waits for the job to finish.
INSERT INTO per_auction
SELECT window_start, window_end, auction, COUNT(*), MAX(price)
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, auction;
