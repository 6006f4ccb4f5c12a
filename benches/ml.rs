//! Model training and prediction in SQL, on generated data the companion
//! script `benches/ml_sklearn.py` also uses, so scikit-learn's times can be
//! put beside these (it prints them; it installs nothing: `pip install
//! scikit-learn numpy` first).
//!
//! Run: `cargo bench --bench ml` and `python3 benches/ml_sklearn.py`.
//! Data: y = 3 + 2·a − b + 0.5·c + 0.25·d + noise, features uniform in
//! [0, 1), a fixed SplitMix64 sequence (the script reproduces it).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use flowsql::Engine;

/// Deterministic uniform numbers in [0, 1) (SplitMix64).
fn uniform(seed: u64, n: usize) -> Vec<f64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

fn table(rows: usize, classify: bool) -> MemTable {
    let columns: Vec<Vec<f64>> = (0..5).map(|c| uniform(c as u64 + 1, rows)).collect();
    let y: Vec<f64> = (0..rows)
        .map(|r| {
            let v = 3.0 + 2.0 * columns[0][r] - columns[1][r]
                + 0.5 * columns[2][r]
                + 0.25 * columns[3][r]
                + 0.1 * (columns[4][r] - 0.5);
            if classify {
                f64::from(u8::from(v > 3.9))
            } else {
                v
            }
        })
        .collect();
    let mut fields: Vec<Field> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| Field::new(*n, DataType::Float64, false))
        .collect();
    let mut arrays: Vec<ArrayRef> = columns[..4]
        .iter()
        .map(|c| Arc::new(Float64Array::from(c.clone())) as ArrayRef)
        .collect();
    if classify {
        fields.push(Field::new("y", DataType::Int64, false));
        arrays.push(Arc::new(
            datafusion::arrow::array::Int64Array::from_iter_values(y.iter().map(|v| *v as i64)),
        ));
    } else {
        fields.push(Field::new("y", DataType::Float64, false));
        arrays.push(Arc::new(Float64Array::from(y)));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(Arc::clone(&schema), arrays).unwrap();
    MemTable::try_new(schema, vec![vec![batch]]).unwrap()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engine = runtime.block_on(async {
        Engine::builder()
            .data_dir(dir.path())
            .build()
            .await
            .unwrap()
    });
    let ctx = engine.session_context();
    ctx.register_table("linear_1m", Arc::new(table(1_000_000, false)))
        .unwrap();
    ctx.register_table("forest_100k", Arc::new(table(100_000, true)))
        .unwrap();

    // The accuracy side of the comparison: printed once, beside the times.
    for (sql, metric) in [
        ("SELECT r2 FROM TRAIN_LINEAR('lin', TABLE linear_1m, 'y')", "training r2"),
        (
            "SELECT accuracy FROM TRAIN_FOREST('forest', TABLE forest_100k, 'y', num_trees => 100, max_depth => 8, seed => 1)",
            "forest training accuracy",
        ),
    ] {
        let batches = runtime.block_on(async {
            engine.query(sql).await.unwrap().collect().await.unwrap()
        });
        let value = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .value(0);
        eprintln!("{metric}: {value:.6}");
    }

    let mut group = c.benchmark_group("ml");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1_000_000));
    group.bench_function("train_linear_1M_x4", |b| {
        b.to_async(&runtime).iter(|| async {
            engine
                .execute("SELECT * FROM TRAIN_LINEAR('lin', TABLE linear_1m, 'y')")
                .await
                .unwrap();
        })
    });
    group.bench_function("predict_linear_1M_scalar", |b| {
        b.to_async(&runtime).iter(|| async {
            let rows = engine
                .query("SELECT SUM(PREDICT('lin', a, b, c, d)) FROM linear_1m")
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            assert_eq!(rows[0].num_rows(), 1);
        })
    });
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("train_forest_100k_x4_100_trees_depth_8", |b| {
        b.to_async(&runtime).iter(|| async {
            engine
                .execute(
                    "SELECT * FROM TRAIN_FOREST('forest', TABLE forest_100k, 'y', num_trees => 100, max_depth => 8, seed => 1)",
                )
                .await
                .unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
