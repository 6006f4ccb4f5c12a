//! What checkpoints cost.
//!
//! - `checkpoint_interval`: a job (`INSERT INTO` a blackhole sink) counting
//!   bids per auction in 10-second tumbling windows over events from the
//!   `nexmark` generator, with no checkpoints and with checkpoints every
//!   10 s, 1 s and 100 ms, each run to its end. Throughput is events/s.
//! - `checkpoint_1m_open_keys`: the time one checkpoint of a job holding
//!   1M open keys (one hour-long window, a key per row, over a Parquet
//!   stream that stays open) takes to prepare, write and publish; the
//!   checkpoint's size is printed.
//!
//! Run: `cargo bench --bench checkpoints` (`FLOWSQL_CHECKPOINT_EVENTS` sets
//! the events of the first group, 20,000,000 by default).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flowsql::Engine;

const BIDS: &str = "CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT,
      date_time TIMESTAMP(3))
    WITH ('connector' = 'nexmark', 'table' = 'bid', 'events' = '{events}', 'seed' = '42');
    CREATE TABLE counts (window_start TIMESTAMP(3), window_end TIMESTAMP(3), auction BIGINT,
      bids BIGINT, top BIGINT)
    WITH ('connector' = 'blackhole')";

const JOB: &str = "INSERT INTO counts
    SELECT window_start, window_end, auction, COUNT(*), MAX(price)
    FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
    GROUP BY window_start, window_end, auction";

fn checkpoint_interval(c: &mut Criterion) {
    let events: u64 = std::env::var("FLOWSQL_CHECKPOINT_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000_000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // One untimed job first, so no variant pays the process's warm-up.
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::builder()
            .data_dir(dir.path())
            .build()
            .await
            .unwrap();
        engine
            .execute(&BIDS.replace("{events}", &events.to_string()))
            .await
            .unwrap();
        engine.execute(JOB).await.unwrap();
        engine.jobs().wait_all().await;
    });
    let mut group = c.benchmark_group("checkpoint_interval");
    group.throughput(Throughput::Elements(events));
    group.sample_size(10);
    for interval in [None, Some("10s"), Some("1s"), Some("100ms")] {
        let dir = tempfile::tempdir().unwrap();
        let engine = runtime.block_on(async {
            let engine = Engine::builder()
                .data_dir(dir.path())
                .build()
                .await
                .unwrap();
            engine
                .execute(&BIDS.replace("{events}", &events.to_string()))
                .await
                .unwrap();
            if let Some(interval) = interval {
                engine
                    .execute(&format!(
                        "SET 'execution.checkpointing.interval' = '{interval}'"
                    ))
                    .await
                    .unwrap();
            }
            engine
        });
        // Unnamed jobs: each run is a new job, starting afresh.
        group.bench_function(interval.unwrap_or("none"), |b| {
            b.to_async(&runtime).iter(|| async {
                engine.execute(JOB).await.unwrap();
                for job in engine.jobs().wait_all().await {
                    assert_eq!(job.state.name(), "FINISHED");
                }
            })
        });
    }
    group.finish();
}

fn checkpoint_1m_open_keys(c: &mut Criterion) {
    const KEYS: u64 = 1_000_000;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("keys");
    let engine = runtime.block_on(async {
        let engine = Engine::builder()
            .data_dir(dir.path())
            .build()
            .await
            .unwrap();
        // A key per row, all in the hour from 10:00: one window, never closed
        // (the stream waits for more files).
        engine
            .execute(&format!(
                "COPY (SELECT value AS key, value % 1000 AS v,
                        TO_TIMESTAMP_MILLIS(1767261600000 + value) AS ts
                       FROM generate_series(1, {KEYS})) TO '{0}/keys.parquet' STORED AS PARQUET;
                 CREATE TABLE keyed (key BIGINT, v BIGINT, ts TIMESTAMP(3),
                   WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
                 WITH ('connector' = 'filesystem', 'path' = '{0}/', 'format' = 'parquet',
                       'source.monitor-interval' = '1h');
                 CREATE TABLE sums (window_start TIMESTAMP(3), key BIGINT, n BIGINT, total BIGINT)
                 WITH ('connector' = 'blackhole');
                 SET 'execution.checkpointing.interval' = '500ms';
                 INSERT INTO sums SELECT window_start, key, COUNT(*), SUM(v)
                 FROM TABLE(TUMBLE(TABLE keyed, DESCRIPTOR(ts), INTERVAL '1' HOUR))
                 GROUP BY window_start, window_end, key",
                input.display()
            ))
            .await
            .unwrap();
        engine
    });
    // (rows read, last checkpoint: number, milliseconds, bytes)
    let job = |engine: &Engine| {
        let job = engine.jobs().list().remove(0);
        let rows = job.metrics.map_or(0, |m| m.rows_in());
        let last = job.last_checkpoint;
        (
            rows,
            last.map(|c| c.id),
            last.map_or(0.0, |c| c.duration.as_secs_f64() * 1000.0),
            last.map_or(0, |c| c.bytes),
        )
    };
    // Wait until every row is in, then for a checkpoint taken after that.
    let next_checkpoint = |engine: &Engine, after: Option<u64>| loop {
        let (rows, id, ms, bytes) = job(engine);
        if rows == KEYS && id > after {
            return (id, ms, bytes);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut last, _, _) = next_checkpoint(&engine, None);
    let (id, ms, bytes) = next_checkpoint(&engine, last);
    last = id;
    println!("checkpoint of {KEYS} open keys: {bytes} bytes, {ms:.1} ms");
    let mut group = c.benchmark_group("checkpoint_1m_open_keys");
    group.sample_size(10);
    group.bench_function("prepare_write_publish", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (id, ms, _) = next_checkpoint(&engine, last);
                last = id;
                total += Duration::from_secs_f64(ms / 1000.0);
            }
            total
        })
    });
    group.finish();
    runtime.block_on(engine.jobs().stop_all());
}

criterion_group!(benches, checkpoint_interval, checkpoint_1m_open_keys);
criterion_main!(benches);
