//! Model training and prediction in SQL, on generated data the companion
//! script `benches/ml_sklearn.py` also uses, so scikit-learn's times can be
//! put beside these (it prints them; it installs nothing: `pip install
//! scikit-learn numpy` first).
//!
//! Run: `cargo bench --bench ml` and `python3 benches/ml_sklearn.py`.
//! Data: y = 3 + 2·a − b + 0.5·c + 0.25·d + noise, features uniform in
//! [0, 1), a fixed SplitMix64 sequence (the script reproduces it).
//! Round 2: 1M rows × 10 features for logistic regression (label: a
//! weighted sum of the features plus noise above 0) and for k-means (8
//! blobs, as tests/ml_round2.rs makes them); smartcore's own logistic
//! regression and k-means on the same rows are timed once each and printed
//! beside them. Boosted trees: the first 100k of the logistic rows, 100
//! trees of depth 6; their PREDICT runs over all 1M.

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

/// 1M × 10: features f0..f9 uniform in [0, 1), and the binary label
/// `Σ w_j (f_j − 0.5) + 0.3 (noise − 0.5) > 0`, w_j = ±(j + 1) / 10.
fn logistic_columns(rows: usize) -> (Vec<Vec<f64>>, Vec<u32>) {
    let columns: Vec<Vec<f64>> = (0..10).map(|c| uniform(c as u64 + 11, rows)).collect();
    let noise = uniform(50, rows);
    let y = (0..rows)
        .map(|r| {
            let score: f64 = (0..10)
                .map(|j| {
                    let w = (j as f64 + 1.0) / 10.0 * if j % 2 == 0 { 1.0 } else { -1.0 };
                    w * (columns[j][r] - 0.5)
                })
                .sum::<f64>()
                + 0.3 * (noise[r] - 0.5);
            u32::from(score > 0.0)
        })
        .collect();
    (columns, y)
}

/// 1M × 10 in 8 blobs: as tests/ml_round2.rs and the reference script.
fn blob_columns(rows: usize, dims: usize, centers: usize) -> Vec<Vec<f64>> {
    let centres = uniform(1000, centers * dims);
    (0..dims)
        .map(|d| {
            let (a, b) = (uniform(d as u64 + 1, rows), uniform(d as u64 + 101, rows));
            (0..rows)
                .map(|r| centres[(r % centers) * dims + d] * 10.0 + a[r] + b[r] - 1.0)
                .collect()
        })
        .collect()
}

fn columns_table(columns: &[Vec<f64>], label: Option<&[u32]>) -> MemTable {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (j, column) in columns.iter().enumerate() {
        fields.push(Field::new(format!("f{j}"), DataType::Float64, false));
        arrays.push(Arc::new(Float64Array::from(column.clone())));
    }
    if let Some(label) = label {
        fields.push(Field::new("y", DataType::Int64, false));
        arrays.push(Arc::new(
            datafusion::arrow::array::Int64Array::from_iter_values(
                label.iter().map(|v| i64::from(*v)),
            ),
        ));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(Arc::clone(&schema), arrays).unwrap();
    MemTable::try_new(schema, vec![vec![batch]]).unwrap()
}

/// smartcore's logistic regression and k-means on the same rows, timed once.
fn smartcore_beside(logistic: &(Vec<Vec<f64>>, Vec<u32>), blobs: &[Vec<f64>]) {
    use smartcore::cluster::kmeans::{KMeans, KMeansParameters};
    use smartcore::linalg::basic::matrix::DenseMatrix;
    use smartcore::linear::logistic_regression::{
        LogisticRegression, LogisticRegressionParameters,
    };
    let matrix = |columns: &[Vec<f64>]| {
        let rows = columns[0].len();
        let flat: Vec<f64> = columns.iter().flatten().copied().collect();
        DenseMatrix::new(rows, columns.len(), flat, true).unwrap()
    };
    let x = matrix(&logistic.0);
    let start = std::time::Instant::now();
    let fitted = LogisticRegression::fit(
        &x,
        &logistic.1,
        LogisticRegressionParameters::default().with_alpha(1.0),
    )
    .unwrap();
    let predicted: Vec<u32> = fitted.predict(&x).unwrap();
    let accuracy = predicted
        .iter()
        .zip(&logistic.1)
        .filter(|(p, y)| p == y)
        .count() as f64
        / predicted.len() as f64;
    eprintln!(
        "smartcore logistic fit 1M x 10: {:.2} s, training accuracy {accuracy:.6}",
        start.elapsed().as_secs_f64()
    );
    let x = matrix(blobs);
    let start = std::time::Instant::now();
    let fitted: KMeans<f64, u32, DenseMatrix<f64>, Vec<u32>> =
        KMeans::fit(&x, KMeansParameters::default().with_k(8).with_max_iter(300)).unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    let labels: Vec<u32> = fitted.predict(&x).unwrap();
    // Inertia from the labels: each blob's squared distances to its mean.
    let mut sums = vec![vec![0.0; blobs.len()]; 8];
    let mut counts = [0usize; 8];
    for (r, l) in labels.iter().enumerate() {
        counts[*l as usize] += 1;
        for (j, column) in blobs.iter().enumerate() {
            sums[*l as usize][j] += column[r];
        }
    }
    let inertia: f64 = labels
        .iter()
        .enumerate()
        .map(|(r, l)| {
            let l = *l as usize;
            blobs
                .iter()
                .enumerate()
                .map(|(j, column)| (column[r] - sums[l][j] / counts[l] as f64).powi(2))
                .sum::<f64>()
        })
        .sum();
    eprintln!("smartcore k-means fit 1M x 10, k = 8: {elapsed:.2} s, inertia {inertia:.1}");
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
    let logistic = logistic_columns(1_000_000);
    let blobs = blob_columns(1_000_000, 10, 8);
    ctx.register_table(
        "logistic_1m",
        Arc::new(columns_table(&logistic.0, Some(&logistic.1))),
    )
    .unwrap();
    ctx.register_table("blobs_1m", Arc::new(columns_table(&blobs, None)))
        .unwrap();
    let boosting = logistic_columns(100_000);
    ctx.register_table(
        "gbt_100k",
        Arc::new(columns_table(&boosting.0, Some(&boosting.1))),
    )
    .unwrap();
    smartcore_beside(&logistic, &blobs);

    // The accuracy side of the comparison: printed once, beside the times.
    for (sql, metric) in [
        ("SELECT r2 FROM TRAIN_LINEAR('lin', TABLE linear_1m, 'y')", "training r2"),
        (
            "SELECT accuracy FROM TRAIN_FOREST('forest', TABLE forest_100k, 'y', num_trees => 100, max_depth => 8, seed => 1)",
            "forest training accuracy",
        ),
        (
            "SELECT accuracy FROM TRAIN_LOGISTIC('logistic', TABLE logistic_1m, 'y')",
            "logistic training accuracy",
        ),
        (
            "SELECT inertia FROM TRAIN_KMEANS('kmeans', TABLE blobs_1m, k => 8, seed => 1)",
            "k-means inertia (n_init 1)",
        ),
        (
            "SELECT accuracy FROM TRAIN_GBT('gbt', TABLE gbt_100k, 'y', num_trees => 100, max_depth => 6)",
            "boosted trees training accuracy",
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
    group.throughput(Throughput::Elements(1_000_000));
    group.bench_function("train_logistic_1M_x10", |b| {
        b.to_async(&runtime).iter(|| async {
            engine
                .execute("SELECT * FROM TRAIN_LOGISTIC('logistic', TABLE logistic_1m, 'y')")
                .await
                .unwrap();
        })
    });
    group.bench_function("train_kmeans_1M_x10_k8", |b| {
        b.to_async(&runtime).iter(|| async {
            engine
                .execute("SELECT * FROM TRAIN_KMEANS('kmeans', TABLE blobs_1m, k => 8, seed => 1)")
                .await
                .unwrap();
        })
    });
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("train_gbt_100k_x10_100_trees_depth_6", |b| {
        b.to_async(&runtime).iter(|| async {
            engine
                .execute("SELECT * FROM TRAIN_GBT('gbt', TABLE gbt_100k, 'y', num_trees => 100, max_depth => 6)")
                .await
                .unwrap();
        })
    });
    group.throughput(Throughput::Elements(1_000_000));
    for (name, sql) in [
        (
            "predict_gbt_1M_x10_100_trees",
            "SELECT COUNT(*) FROM PREDICT('gbt', TABLE logistic_1m) WHERE probability > 0.5",
        ),
        (
            "predict_logistic_1M_x10",
            "SELECT COUNT(*) FROM PREDICT('logistic', TABLE logistic_1m) WHERE probability > 0.5",
        ),
        (
            "predict_kmeans_1M_x10",
            "SELECT COUNT(*) FROM PREDICT('kmeans', TABLE blobs_1m) WHERE cluster >= 0",
        ),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async {
                let rows = engine.query(sql).await.unwrap().collect().await.unwrap();
                assert_eq!(rows[0].num_rows(), 1);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
