//! Models in SQL: TRAIN_LINEAR equals exact least squares, models persist
//! across processes with versions, PREDICT and EVALUATE apply them, and bad
//! input gives errors that say what to do.

mod common;

use std::process::Command;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{Float64Type, UInt64Type};
use flowsql::ml::registry::Registry;
use flowsql::Engine;

const BIN: &str = env!("CARGO_BIN_EXE_flowsql");

/// 300 houses whose price is an exact linear function of the features
/// (including a category), so least squares must recover it exactly.
const HOUSES: &str = "CREATE TABLE houses AS SELECT value AS id,
    CAST(value % 37 AS DOUBLE) * 10 + 500 AS sqft,
    CAST(value % 5 + 1 AS DOUBLE) AS rooms,
    CASE WHEN value % 3 = 0 THEN 'north' WHEN value % 3 = 1 THEN 'south' ELSE 'east' END AS area,
    1000.0 + 3.0 * (CAST(value % 37 AS DOUBLE) * 10 + 500) + 250.0 * (value % 5 + 1)
      + CASE WHEN value % 3 = 0 THEN 100.0 WHEN value % 3 = 1 THEN -40.0 ELSE 0.0 END AS price
  FROM generate_series(1, 300)";

async fn engine(dir: &std::path::Path) -> Engine {
    let engine = common::engine_in(dir).await;
    engine.execute(HOUSES).await.unwrap();
    engine
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0)
}

#[tokio::test]
async fn train_linear_is_exact_least_squares() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let trained = engine
        .query("SELECT * FROM TRAIN_LINEAR('price_model', TABLE houses, 'price', features => ARRAY['sqft', 'rooms', 'area'])")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        trained[0].column(1).as_primitive::<UInt64Type>().value(0),
        1
    );
    assert!(close(
        trained[0].column(6).as_primitive::<Float64Type>().value(0),
        1.0
    ));

    let model = Registry::new(dir.path()).current("price_model").unwrap();
    let linear = model.linear().unwrap();
    // Categories sorted: east (reference), north, south.
    let expected = [3.0, 250.0, 100.0, -40.0];
    assert!(close(linear.intercept, 1000.0), "{}", linear.intercept);
    for (got, want) in linear.coefficients.iter().zip(expected) {
        assert!(close(*got, want), "{got} vs {want}");
    }

    // EVALUATE on the training data: a perfect fit.
    let evaluated = engine
        .query("SELECT rows, rmse < 1e-6 AS exact, r2 FROM EVALUATE('price_model', TABLE houses)")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        evaluated[0].column(0).as_primitive::<UInt64Type>().value(0),
        300
    );
    assert!(evaluated[0].column(1).as_boolean().value(0));

    // PREDICT returns the input columns plus the prediction.
    let predicted = engine
        .query("SELECT MAX(ABS(price - prediction)) FROM PREDICT('price_model', (SELECT id, sqft, rooms, area, price FROM houses))")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert!(
        predicted[0]
            .column(0)
            .as_primitive::<Float64Type>()
            .value(0)
            < 1e-6
    );
}

#[tokio::test]
async fn ridge_shrinks_and_every_run_is_a_new_version() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    for l2 in ["0", "1000"] {
        engine
            .execute(&format!(
                "SELECT * FROM TRAIN_LINEAR('m', (SELECT sqft, rooms, price FROM houses), 'price', l2 => {l2})"
            ))
            .await
            .unwrap();
    }
    let versions = Registry::new(dir.path()).versions("m").unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2]
    );
    let rooms = |i: usize| versions[i].linear().unwrap().coefficients[1].abs();
    assert!(
        rooms(1) < rooms(0),
        "ridge shrinks: {} vs {}",
        rooms(1),
        rooms(0)
    );
}

#[test]
fn models_persist_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let run = |sql: &str| {
        let output = Command::new(BIN)
            .args(["--format", "csv", "--data-dir"])
            .arg(dir.path())
            .args(["-c", sql])
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    run(&format!(
        "{HOUSES}; SELECT * FROM TRAIN_LINEAR('p', TABLE houses, 'price')"
    ));
    let models = run("SHOW MODELS");
    assert!(
        models.starts_with(
            "model,versions,algorithm,label,rows,r2,error\np,1,linear_regression,price,300,"
        ),
        "{models}"
    );
    let predicted = run(&format!(
        "{HOUSES}; SELECT id, ROUND(prediction) AS p FROM PREDICT('p', TABLE houses) WHERE id = 3"
    ));
    // id 3: sqft 530, rooms 4, north: 1000 + 1590 + 1000 + 100.
    assert_eq!(predicted, "id,p\n3,3690.0\n");
}

async fn error_of(engine: &Engine, sql: &str) -> String {
    engine.query(sql).await.unwrap_err().to_string()
}

#[tokio::test]
async fn bad_input_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    engine
        .execute("SELECT * FROM TRAIN_LINEAR('p', TABLE houses, 'price')")
        .await
        .unwrap();
    let cases = [
        ("SELECT * FROM PREDICT('nope', TABLE houses)", "there is no model 'nope'; the models are: p"),
        ("SELECT * FROM TRAIN_LINEAR('q', TABLE houses, 'cost')", "label 'cost' is not a column of the input"),
        (
            "SELECT * FROM TRAIN_LINEAR('q', (SELECT * FROM houses WHERE false), 'price')",
            "the training input has no rows",
        ),
        (
            "SELECT * FROM PREDICT('p', (SELECT id, sqft FROM houses))",
            "the model needs column 'rooms', which the input lacks",
        ),
        (
            "SELECT * FROM PREDICT('p', (SELECT id, 'big' AS sqft, rooms, area FROM houses))",
            "column 'sqft' is Utf8, but the model was trained on a number there",
        ),
        (
            "SELECT * FROM TRAIN_LINEAR('q', (SELECT sqft, CASE WHEN id = 7 THEN NULL ELSE price END AS price FROM houses), 'price')",
            "row 7: column 'price' is NULL or NaN; use handle_invalid => 'skip'",
        ),
        (
            "SELECT * FROM TRAIN_LINEAR('q', TABLE houses, 'price', depth => 3)",
            "TRAIN_LINEAR has no option 'depth'",
        ),
    ];
    for (sql, expected) in cases {
        let err = error_of(&engine, sql).await;
        assert!(err.contains(expected), "{sql}\n{err}");
    }

    // Skipped rows are counted.
    let trained = engine
        .query("SELECT skipped FROM TRAIN_LINEAR('q', (SELECT sqft, CASE WHEN id % 10 = 0 THEN NULL ELSE price END AS price FROM houses), 'price', handle_invalid => 'skip')")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        trained[0].column(0).as_primitive::<UInt64Type>().value(0),
        30
    );

    // A corrupt model file is an error naming the file.
    std::fs::write(dir.path().join("models/p/v2.json"), "{ not json").unwrap();
    let err = error_of(&engine, "SELECT * FROM PREDICT('p', TABLE houses)").await;
    assert!(
        err.contains("models/p/v2.json") && err.contains("corrupt"),
        "{err}"
    );

    engine.execute("DROP MODEL q").await.unwrap();
    let err = error_of(&engine, "DESCRIBE MODEL q").await;
    assert!(err.contains("there is no model 'q'"), "{err}");
}

/// `handle_invalid => 'keep'`: a NULL number is imputed with the training
/// mean; NULL text is a category of its own, with its own coefficient.
#[tokio::test]
async fn keep_imputes_means_and_gives_null_text_its_own_category() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    // 'east' becomes NULL, with a price effect unlike any other area's.
    let trained = engine
        .query(
            "SELECT r2, skipped FROM TRAIN_LINEAR('k', (SELECT sqft, rooms,
               CASE WHEN area = 'east' THEN NULL ELSE area END AS area,
               price + CASE WHEN area = 'east' THEN 250.0 ELSE 0.0 END AS price FROM houses),
             'price', handle_invalid => 'keep')",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let r2 = trained[0].column(0).as_primitive::<Float64Type>().value(0);
    assert!(
        close(r2, 1.0),
        "an exact fit needs NULL as its own category: {r2}"
    );
    assert_eq!(
        trained[0].column(1).as_primitive::<UInt64Type>().value(0),
        0
    );
    let model = Registry::new(dir.path()).current("k").unwrap();
    let linear = model.linear().unwrap();
    // Categories north (reference), south, then NULL: 250 above east's 0
    // relative to north's 100.
    assert!(close(linear.coefficients[3], 150.0), "{linear:?}");

    // A NULL number predicts as the training mean does.
    engine
        .execute(
            "SELECT * FROM TRAIN_LINEAR('m', (SELECT CASE WHEN id % 10 = 0 THEN NULL ELSE sqft END AS sqft, price FROM houses),
             'price', handle_invalid => 'keep')",
        )
        .await
        .unwrap();
    let difference = engine
        .query(
            "SELECT PREDICT('m', CAST(NULL AS DOUBLE)) - PREDICT('m', (SELECT AVG(sqft) FROM houses WHERE id % 10 <> 0))",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert!(
        difference[0]
            .column(0)
            .as_primitive::<Float64Type>()
            .value(0)
            .abs()
            < 1e-9
    );
}

#[tokio::test]
async fn the_scalar_predict_matches_the_table_form() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    engine
        .execute("SELECT * FROM TRAIN_LINEAR('p', (SELECT sqft, rooms, area, price FROM houses), 'price')")
        .await
        .unwrap();
    let differences = engine
        .query(
            "SELECT MAX(ABS(t.prediction - PREDICT('p', h.sqft, h.rooms, h.area)))
             FROM PREDICT('p', TABLE houses) t JOIN houses h ON t.id = h.id",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert!(
        differences[0]
            .column(0)
            .as_primitive::<Float64Type>()
            .value(0)
            < 1e-9
    );
    // The table form tells which version predicted.
    let versions = engine
        .query("SELECT DISTINCT model_version FROM PREDICT('p', TABLE houses)")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        versions[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
            .values()
            .to_vec(),
        vec![1]
    );
    // The arguments are checked against the model when the query is planned.
    let err = engine
        .query("SELECT PREDICT('p', sqft) FROM houses")
        .await
        .expect_err("one feature of three is an error")
        .to_string();
    assert!(
        err.contains("takes 3 features (sqft, rooms, area), not 1"),
        "{err}"
    );
}

/// A streaming query calling PREDICT uses each new version as it appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_stream_picks_up_a_new_model_version() {
    use datafusion::arrow::array::{Float64Array, RecordBatch, TimestampMillisecondArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use futures::StreamExt;
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine_in(dir.path()).await;
    // y = 2x, then y = 10x.
    let train = |factor: f64| {
        format!(
            "SELECT * FROM TRAIN_LINEAR('m', (SELECT CAST(value AS DOUBLE) AS x, {factor} * value AS y
             FROM generate_series(1, 20)), 'y')"
        )
    };
    engine.execute(&train(2.0)).await.unwrap();

    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
    ]));
    let (sender, receiver) = futures::channel::mpsc::unbounded::<flowsql::Result<RecordBatch>>();
    engine
        .register_stream(
            "xs",
            Arc::clone(&schema),
            "ts",
            std::time::Duration::from_secs(1),
            receiver,
        )
        .unwrap();
    let batch = |x: f64, ts: i64| {
        RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Float64Array::from(vec![x])),
                Arc::new(TimestampMillisecondArray::from(vec![ts])),
            ],
        )
        .unwrap()
    };
    // The table form over the stream: a projection run per batch, showing
    // the version that made each prediction.
    let mut results = engine
        .query("SELECT x, ROUND(prediction) AS y, model_version FROM PREDICT('m', TABLE xs)")
        .await
        .unwrap();
    assert!(results.is_streaming());
    let next = async |stream: &mut flowsql::QueryStream| {
        let batch = stream.next().await.unwrap().unwrap();
        (
            batch.column(1).as_primitive::<Float64Type>().value(0),
            batch
                .column(2)
                .as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
                .value(0),
        )
    };
    sender.unbounded_send(Ok(batch(3.0, 1_000))).unwrap();
    assert_eq!(next(&mut results).await, (6.0, 1));
    engine.execute(&train(10.0)).await.unwrap();
    sender.unbounded_send(Ok(batch(3.0, 2_000))).unwrap();
    assert_eq!(next(&mut results).await, (30.0, 2));
    drop(sender);
}

/// Training over a window function makes one version per window, as the
/// windows close on the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_over_a_stream_makes_one_version_per_window() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine_in(dir.path()).await;
    engine
        .execute(&format!(
            "{}; {}",
            common::BIDS_STREAM,
            common::BIDS_BOUNDED
        ))
        .await
        .unwrap();
    let results = engine
        .query(
            "SELECT * FROM TRAIN_LINEAR('per_window', TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '2' MINUTE)),
             'price', features => ARRAY['auction', 'bidder'])",
        )
        .await
        .unwrap();
    assert!(results.is_streaming());
    let results = results.collect().await.unwrap();
    let mut got: Vec<(String, u64, u64)> = Vec::new();
    for batch in &results {
        for row in 0..batch.num_rows() {
            got.push((
                batch.column(0).as_string::<i32>().value(row).to_string(),
                batch.column(3).as_primitive::<UInt64Type>().value(row),
                batch.column(4).as_primitive::<UInt64Type>().value(row),
            ));
        }
    }
    // The oracle: rows per 2-minute window, counted as a batch query.
    let counts = engine
        .query(
            "SELECT CAST(date_bin(INTERVAL '2' MINUTE, ts) AS VARCHAR) AS w, COUNT(*) FROM bounded
             GROUP BY 1 ORDER BY 1",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let windows = datafusion::arrow::compute::cast(
        counts[0].column(0),
        &datafusion::arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    let expected: Vec<(String, u64, u64)> = (0..counts[0].num_rows())
        .map(|r| {
            (
                windows.as_string::<i32>().value(r).replace(' ', "T"),
                r as u64 + 1,
                counts[0]
                    .column(1)
                    .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                    .value(r) as u64,
            )
        })
        .collect();
    assert_eq!(got, expected);
    let versions = Registry::new(dir.path()).versions("per_window").unwrap();
    assert_eq!(versions.len(), expected.len());

    // CUMULATE: growing windows (1, 2, 3 minutes from each 3-minute start),
    // one version each, trained on every row since the start.
    let results = engine
        .query(
            "SELECT * FROM TRAIN_LINEAR('growing', TABLE(CUMULATE(TABLE bids, DESCRIPTOR(ts),
             INTERVAL '1' MINUTE, INTERVAL '3' MINUTE)), 'price', features => ARRAY['auction', 'bidder'])",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut got: Vec<(String, String, u64)> = Vec::new();
    for batch in &results {
        for row in 0..batch.num_rows() {
            got.push((
                batch.column(0).as_string::<i32>().value(row).to_string(),
                batch.column(1).as_string::<i32>().value(row).to_string(),
                batch.column(4).as_primitive::<UInt64Type>().value(row),
            ));
        }
    }
    got.sort();
    // The oracle, from the raw event times (ms): for each 3-minute start and
    // each step, the rows from the start up to the step's end (a window
    // exists when it holds a row).
    let times = engine
        .query("SELECT CAST(ts AS BIGINT) FROM bounded")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let times: Vec<i64> = times
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .values()
                .to_vec()
        })
        .collect();
    let (minute, span) = (60_000, 180_000);
    let mut starts: Vec<i64> = times.iter().map(|t| t - t.rem_euclid(span)).collect();
    starts.sort();
    starts.dedup();
    let mut expected = Vec::new();
    for start in starts {
        for step in 1..=3 {
            let end = start + step * minute;
            let rows = times.iter().filter(|t| **t >= start && **t < end).count() as u64;
            if rows > 0 {
                expected.push(rows);
            }
        }
    }
    assert_eq!(
        got.iter().map(|g| g.2).collect::<Vec<_>>(),
        expected,
        "{got:?}"
    );
    assert_eq!(
        Registry::new(dir.path()).versions("growing").unwrap().len(),
        expected.len()
    );
}

/// A streaming job applies a model: `INSERT INTO` a sink from the table form
/// of PREDICT over a stream writes every row's prediction and version,
/// equal to the scalar PREDICT over the same rows as a batch query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_job_writes_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let engine = common::engine_in(dir.path()).await;
    engine
        .execute(&format!(
            "{}; {};
             CREATE TABLE priced (auction BIGINT, bidder BIGINT, prediction DOUBLE, model_version BIGINT)
             WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
             SELECT * FROM TRAIN_TREE('price_tree', (SELECT auction, bidder, price FROM bounded), 'price', max_depth => 4);
             INSERT INTO priced SELECT auction, bidder, prediction, model_version FROM PREDICT('price_tree', TABLE bids)",
            common::BIDS_STREAM,
            common::BIDS_BOUNDED,
            out.display()
        ))
        .await
        .unwrap();
    let jobs = engine.jobs().wait_all().await;
    assert_eq!(jobs[0].state, flowsql::JobState::Finished, "{jobs:?}");
    assert_eq!(jobs[0].rows_out, 1000);
    let summary = |sql: &'static str| {
        let engine = &engine;
        async move {
            let batches = engine.query(sql).await.unwrap().collect().await.unwrap();
            datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap()
                .to_string()
        }
    };
    let written = summary(
        "SELECT COUNT(*) AS n, ROUND(SUM(prediction), 6) AS total, MIN(model_version) AS lo, MAX(model_version) AS hi FROM priced",
    )
    .await;
    let oracle = summary(
        "SELECT COUNT(*) AS n, ROUND(SUM(PREDICT('price_tree', auction, bidder)), 6) AS total, 1 AS lo, 1 AS hi FROM bounded",
    )
    .await;
    assert_eq!(written, oracle);
}

/// COPY writes a query's PREDICT and EVALUATE results to files; reading
/// them back gives the same rows as the query.
#[tokio::test]
async fn copy_writes_ml_results() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    engine
        .execute("SELECT * FROM TRAIN_LINEAR('houses_m', TABLE houses, 'price')")
        .await
        .unwrap();
    let scored = dir.path().join("scored.csv");
    let evaluated = dir.path().join("evaluated.csv");
    for (sql, path) in [
        (
            "SELECT id, prediction FROM PREDICT('houses_m', TABLE houses) WHERE id <= 10",
            &scored,
        ),
        (
            "SELECT rows, r2 FROM EVALUATE('houses_m', TABLE houses)",
            &evaluated,
        ),
    ] {
        engine
            .execute(&format!(
                "COPY ({sql}) TO '{}' STORED AS CSV",
                path.display()
            ))
            .await
            .unwrap_or_else(|e| panic!("COPY ({sql}): {e}"));
    }
    let text = std::fs::read_to_string(&scored).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.remove(0), "id,prediction");
    lines.sort_by_key(|l| l.split(',').next().unwrap().parse::<i64>().unwrap());
    let expected = engine
        .query("SELECT id, price FROM houses WHERE id <= 10 ORDER BY id")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let prices = expected[0].column(1).as_primitive::<Float64Type>();
    assert_eq!(lines.len(), 10);
    for (row, line) in lines.iter().enumerate() {
        let predicted: f64 = line.split(',').nth(1).unwrap().parse().unwrap();
        assert!(close(predicted, prices.value(row)), "{line}");
    }
    let text = std::fs::read_to_string(&evaluated).unwrap();
    let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(row[0], "300");
    assert!(close(row[1].parse().unwrap(), 1.0), "{text}");
}
