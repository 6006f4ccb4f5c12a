//! Batch GROUP BY over Parquet through flowsql's Engine, beside DataFusion
//! running the same query on its own `SessionContext` over the same file, so
//! the cost of flowsql's layer (statement splitting, its parser, catalog
//! wrapper) is visible as a ratio.
//!
//! Run: `cargo bench --bench batch_query`. The input (1M rows, 1000 keys) is
//! generated into a temporary directory by the bench itself.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use flowsql::Engine;
use futures::StreamExt;

const ROWS: u64 = 1_000_000;
const QUERY: &str = "SELECT auction, COUNT(*), SUM(price), MAX(price), AVG(price) \
                     FROM bids GROUP BY auction";

fn bench(c: &mut Criterion) {
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
                "COPY (SELECT value % 1000 AS auction, CAST(value % 9973 AS DOUBLE) / 10 AS price, \
                 TO_TIMESTAMP_MILLIS(value * 100) AS ts FROM generate_series(1, {ROWS})) \
                 TO '{path}' STORED AS PARQUET;
                 CREATE TABLE bids (auction BIGINT, price DOUBLE, ts TIMESTAMP(3)) WITH \
                 ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'parquet')"
            ))
            .await
            .unwrap();
        engine
    });
    let datafusion = SessionContext::new();
    runtime
        .block_on(datafusion.register_parquet("bids", &path, ParquetReadOptions::default()))
        .unwrap();

    let mut group = c.benchmark_group("batch_group_by_parquet_1M");
    group.throughput(Throughput::Elements(ROWS));
    group.sample_size(20);
    group.bench_function("flowsql", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut stream = engine.query(QUERY).await.unwrap();
            let mut groups = 0;
            while let Some(batch) = stream.next().await {
                groups += batch.unwrap().num_rows();
            }
            assert_eq!(groups, 1000);
        })
    });
    group.bench_function("datafusion", |b| {
        b.to_async(&runtime).iter(|| async {
            let batches = datafusion
                .sql(QUERY)
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let groups: usize = batches.iter().map(|b| b.num_rows()).sum();
            assert_eq!(groups, 1000);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
