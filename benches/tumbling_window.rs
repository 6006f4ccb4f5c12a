//! A tumbling 1-minute window aggregation over Parquet, run as a stream by
//! flowsql, beside DataFusion computing the same aggregation as a batch
//! GROUP BY over the same file, in the same group so the ratio is visible.
//!
//! Run: `cargo bench --bench tumbling_window` (`FLOWSQL_TUMBLING_ROWS` sets
//! the number of rows, 1,000,000 by default; issue 6's target is stated for
//! 10,000,000). The input (bids over 100 keys, event time rising 10 ms per
//! row with up to 2 s of disorder) is generated into a temporary directory
//! by the bench itself.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use flowsql::Engine;
use futures::StreamExt;

const STREAMING: &str =
    "SELECT window_start, window_end, auction, COUNT(*), SUM(price), MAX(price), AVG(price)
    FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
    GROUP BY window_start, window_end, auction";

const BATCH: &str = "SELECT date_bin(INTERVAL '1' MINUTE, ts) AS window_start, auction,
    COUNT(*), SUM(price), MAX(price), AVG(price)
    FROM bids GROUP BY date_bin(INTERVAL '1' MINUTE, ts), auction";

fn bench(c: &mut Criterion) {
    let rows: u64 = std::env::var("FLOWSQL_TUMBLING_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bids.parquet");
    let path = path.to_str().unwrap().to_string();
    let engine = runtime.block_on(async {
        let engine = Engine::builder()
            .data_dir(dir.path())
            .build()
            .await
            .unwrap();
        engine
            .execute(&format!(
                "COPY (SELECT value % 100 AS auction, CAST(value % 9973 AS DOUBLE) / 10 AS price,
                   TO_TIMESTAMP_MILLIS(1767261600000 + value * 10 - (value * 7919) % 2000) AS ts
                   FROM generate_series(1, {rows}) ORDER BY value) TO '{path}' STORED AS PARQUET;
                 CREATE TABLE bids (auction BIGINT, price DOUBLE, ts TIMESTAMP(3),
                   WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
                 WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'parquet')"
            ))
            .await
            .unwrap();
        engine
    });
    let datafusion = SessionContext::new();
    runtime
        .block_on(datafusion.register_parquet("bids", &path, ParquetReadOptions::default()))
        .unwrap();
    // 1M rows * 10 ms = ~167 minutes of event time, 100 keys per minute.
    let expected_groups = runtime.block_on(async {
        let batches = datafusion
            .sql(BATCH)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        batches.iter().map(|b| b.num_rows()).sum::<usize>()
    });

    let mut group = c.benchmark_group(format!("tumbling_1min_parquet_{}M", rows / 1_000_000));
    group.throughput(Throughput::Elements(rows));
    group.sample_size(10);
    group.bench_function("flowsql_streaming", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut stream = engine.query(STREAMING).await.unwrap();
            let mut groups = 0;
            while let Some(batch) = stream.next().await {
                groups += batch.unwrap().num_rows();
            }
            assert_eq!(groups, expected_groups);
        })
    });
    group.bench_function("datafusion_batch", |b| {
        b.to_async(&runtime).iter(|| async {
            let batches = datafusion
                .sql(BATCH)
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let groups: usize = batches.iter().map(|b| b.num_rows()).sum();
            assert_eq!(groups, expected_groups);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
