//! The updating GROUP BY: `SELECT key, COUNT(*), SUM(price), MAX(price)
//! FROM events GROUP BY key` over a stream of 10M events with 1M distinct
//! string keys read from Parquet, its whole changelog drained, beside
//! DataFusion's batch GROUP BY of the same file in the same group.
//!
//! Run: `cargo bench --bench updating_group_by` (`FLOWSQL_UPDATING_ROWS`
//! and `FLOWSQL_UPDATING_KEYS` change the sizes). The input is generated
//! into a temporary directory by the bench. Throughput is events/s. Peak
//! memory is measured on the CLI instead (`benches/updating_memory.sql`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use flowsql::Engine;
use futures::StreamExt;

const QUERY: &str = "SELECT key, COUNT(*), SUM(price), MAX(price) FROM events GROUP BY key";

fn size(variable: &str, default: u64) -> u64 {
    std::env::var(variable)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bench(c: &mut Criterion) {
    let rows = size("FLOWSQL_UPDATING_ROWS", 10_000_000);
    let keys = size("FLOWSQL_UPDATING_KEYS", 1_000_000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.parquet");
    let path = path.to_str().unwrap().to_string();
    let engine = runtime.block_on(async {
        let engine = Engine::builder()
            .data_dir(dir.path())
            .build()
            .await
            .unwrap();
        // Keys spread over the whole stream (7919 is prime to the key count
        // chosen), event time rising 1 ms per event.
        engine
            .execute(&format!(
                "COPY (SELECT 'key-' || CAST((value * 7919) % {keys} AS VARCHAR) AS key, \
                 value % 9973 AS price, TO_TIMESTAMP_MILLIS(value) AS ts \
                 FROM generate_series(1, {rows})) TO '{path}' STORED AS PARQUET;
                 CREATE TABLE events (key VARCHAR, price BIGINT, ts TIMESTAMP(3), \
                 WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) WITH \
                 ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'parquet')"
            ))
            .await
            .unwrap();
        engine
    });
    let datafusion = SessionContext::new();
    runtime
        .block_on(datafusion.register_parquet("events", &path, ParquetReadOptions::default()))
        .unwrap();

    let mut group = c.benchmark_group(format!("updating_group_by_{rows}_events_{keys}_keys"));
    group.throughput(Throughput::Elements(rows));
    group.sample_size(10);
    group.bench_function("flowsql_streaming", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut stream = engine.query(QUERY).await.unwrap();
            let mut inserts = 0;
            while let Some(batch) = stream.next().await {
                let batch = batch.unwrap();
                let op = batch.column(0).as_string::<i32>();
                inserts += (0..op.len()).filter(|&i| op.value(i) == "+I").count();
            }
            // Every key is inserted once (and updated after).
            assert_eq!(inserts as u64, keys);
        })
    });
    group.bench_function("datafusion_batch", |b| {
        b.to_async(&runtime).iter(|| async {
            let batches = datafusion
                .sql(QUERY)
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let groups: usize = batches.iter().map(|b| b.num_rows()).sum();
            assert_eq!(groups as u64, keys);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
