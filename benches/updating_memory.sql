-- Peak memory of the updating GROUP BY (10M events, 1M string keys) into a
-- blackhole sink; see BENCHMARKS.md. Generate the input once:
--   flowsql -q -c "COPY (SELECT 'key-' || CAST((value * 7919) % 1000000 AS VARCHAR) AS key,
--     value % 9973 AS price, TO_TIMESTAMP_MILLIS(value) AS ts
--     FROM generate_series(1, 10000000)) TO 'updating-events.parquet' STORED AS PARQUET"
-- then:  /usr/bin/time -v flowsql -q -f benches/updating_memory.sql
CREATE TABLE events (key VARCHAR, price BIGINT, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
WITH ('connector' = 'filesystem', 'path' = 'updating-events.parquet', 'format' = 'parquet');

CREATE TABLE per_key (key VARCHAR, n BIGINT, total BIGINT, top BIGINT)
WITH ('connector' = 'blackhole');

INSERT INTO per_key
SELECT key, COUNT(*), SUM(price), MAX(price) FROM events GROUP BY key;
