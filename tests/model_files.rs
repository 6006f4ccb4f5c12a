//! The model registry under hostile input: model names never reach outside
//! `<data-dir>/models/`, a damaged or forged model file is refused when it
//! is read (never a panic, a loop or a wrong answer), one broken model does
//! not hide the others from `SHOW MODELS`, and training edge cases that
//! used to panic are errors or work.

mod common;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::UInt64Type;
use flowsql::Engine;
use serde_json::Value;

/// 60 rows: two numbers, a category and a class label.
const POINTS: &str = "CREATE TABLE points AS SELECT value AS id,
    CAST(value % 7 AS DOUBLE) AS x,
    CAST(value % 5 AS DOUBLE) AS y,
    CASE WHEN value % 2 = 0 THEN 'even' ELSE 'odd' END AS parity,
    CASE WHEN value % 7 > 3 THEN 'high' ELSE 'low' END AS class,
    CAST(value % 7 AS DOUBLE) * 2.0 + CAST(value % 5 AS DOUBLE) AS target
  FROM generate_series(1, 60)";

async fn engine(dir: &std::path::Path) -> Engine {
    let engine = common::engine_in(dir).await;
    engine.execute(POINTS).await.unwrap();
    engine
}

async fn error_of(engine: &Engine, sql: &str) -> String {
    match engine.query(sql).await {
        Ok(stream) => match stream.collect().await {
            Ok(_) => panic!("{sql} succeeded"),
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn model_names_stay_inside_the_registry() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let engine = engine(&data).await;
    let outside = root.path().join("outside");
    let absolute = outside.display().to_string();
    let names = [
        "../../x",
        "../outside",
        &absolute,
        "a/b",
        "",
        ".",
        "..",
        "x y",
    ];
    for name in names {
        for sql in [
            format!("SELECT * FROM TRAIN_LINEAR('{name}', TABLE points, 'target')"),
            format!("SELECT * FROM PREDICT('{name}', TABLE points)"),
            format!("DROP MODEL '{name}'"),
            format!("DESCRIBE MODEL '{name}'"),
        ] {
            let err = error_of(&engine, &sql).await;
            assert!(err.contains("is not a model name"), "{sql}\n{err}");
        }
    }
    assert!(!outside.exists());
    assert!(!root.path().join("x").exists());

    // DROP MODEL removes the registry's own files and nothing else.
    engine
        .execute("SELECT * FROM TRAIN_LINEAR('m', TABLE points, 'target')")
        .await
        .unwrap();
    let dir = data.join("models/m");
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    engine.execute("DROP MODEL m").await.unwrap();
    assert!(!dir.join("v1.json").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );
    assert!(data.exists());
}

/// Trains `name` with `train`, then writes its v1 file, changed by
/// `forge`, as v2: predicting must fail with an error naming the file.
async fn refuses_forged(
    engine: &Engine,
    data: &std::path::Path,
    train: &str,
    name: &str,
    forge: fn(&mut Value),
) {
    engine.execute(train).await.unwrap();
    let dir = data.join("models").join(name);
    let mut model: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("v1.json")).unwrap()).unwrap();
    forge(&mut model);
    std::fs::write(dir.join("v2.json"), model.to_string()).unwrap();
    let err = error_of(
        engine,
        &format!("SELECT * FROM PREDICT('{name}', TABLE points)"),
    )
    .await;
    assert!(
        err.contains("v2.json") && err.contains("damaged"),
        "{name}: {err}"
    );
    let err = error_of(
        engine,
        &format!("SELECT PREDICT('{name}', x, y, parity) FROM points"),
    )
    .await;
    assert!(err.contains("damaged"), "{name}: {err}");
    std::fs::remove_file(dir.join("v2.json")).unwrap();
}

#[tokio::test]
async fn forged_model_files_are_refused_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let tree = "SELECT * FROM TRAIN_TREE('t', (SELECT x, y, parity, class FROM points), 'class')";
    let linear =
        "SELECT * FROM TRAIN_LINEAR('l', (SELECT x, y, parity, target FROM points), 'target')";
    refuses_forged(&engine, dir.path(), tree, "t", |m| {
        m["tree"]["trees"][0]["nodes"][0]["Split"]["feature"] = 99.into();
    })
    .await;
    refuses_forged(&engine, dir.path(), tree, "t", |m| {
        m["tree"]["trees"][0]["nodes"][0]["Split"]["left"] = 100_000.into();
    })
    .await;
    refuses_forged(&engine, dir.path(), tree, "t", |m| {
        m["tree"]["trees"][0]["nodes"][0]["Split"]["right"] = 0.into();
    })
    .await;
    refuses_forged(&engine, dir.path(), tree, "t", |m| {
        m["classes"] = Value::Array(vec![]);
    })
    .await;
    refuses_forged(&engine, dir.path(), tree, "t", |m| {
        m["tree"]["trees"] = Value::Array(vec![]);
    })
    .await;
    refuses_forged(&engine, dir.path(), linear, "l", |m| {
        m["linear"]["coefficients"].as_array_mut().unwrap().pop();
    })
    .await;
    refuses_forged(&engine, dir.path(), linear, "l", |m| {
        m["features"] = Value::Array(vec![]);
    })
    .await;
    // The task contradicting the fitted model (found by the model_file fuzz target).
    refuses_forged(&engine, dir.path(), tree, "t", |m| {
        m["task"] = "regression".into();
    })
    .await;
    refuses_forged(&engine, dir.path(), linear, "l", |m| {
        m["task"] = "classification".into();
    })
    .await;
    // The untouched versions still predict.
    let rows = engine
        .query("SELECT * FROM PREDICT('t', TABLE points)")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 60);
}

#[tokio::test]
async fn show_models_lists_the_others_beside_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    engine
        .execute("SELECT * FROM TRAIN_LINEAR('good', TABLE points, 'target')")
        .await
        .unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir_all(models.join("corrupt")).unwrap();
    std::fs::write(models.join("corrupt/v1.json"), "{ not json").unwrap();
    std::fs::create_dir_all(models.join("dir/v1.json")).unwrap();
    std::fs::create_dir_all(models.join("bad name")).unwrap();
    std::fs::write(models.join("bad name/v1.json"), "{}").unwrap();

    let batches = engine
        .query("SHOW MODELS")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let batch = &batches[0];
    let column = |name: &str| batch.column(batch.schema().index_of(name).unwrap()).clone();
    let names = column("model");
    let names: Vec<&str> = names.as_string::<i32>().iter().flatten().collect();
    assert_eq!(names, ["bad name", "corrupt", "dir", "good"]);
    let errors = column("error");
    let errors = errors.as_string::<i32>();
    assert!(
        errors.value(0).contains("not a model name"),
        "{}",
        errors.value(0)
    );
    assert!(
        errors.value(1).contains("corrupt/v1.json"),
        "{}",
        errors.value(1)
    );
    assert!(
        errors.value(2).contains("dir/v1.json"),
        "{}",
        errors.value(2)
    );
    assert!(errors.is_null(3));
    assert_eq!(
        column("algorithm").as_string::<i32>().value(3),
        "linear_regression"
    );
}

#[tokio::test]
async fn version_numbers_do_not_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let train = "SELECT * FROM TRAIN_LINEAR('v', TABLE points, 'target')";
    engine.execute(train).await.unwrap();
    let models = dir.path().join("models/v");
    let mut model: Value =
        serde_json::from_str(&std::fs::read_to_string(models.join("v1.json")).unwrap()).unwrap();
    model["version"] = u32::MAX.into();
    std::fs::write(
        models.join(format!("v{}.json", u32::MAX)),
        model.to_string(),
    )
    .unwrap();
    let err = error_of(&engine, train).await;
    assert!(err.contains("highest version number"), "{err}");
}

#[tokio::test]
async fn trees_skip_rows_with_null_features_and_need_trees() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    for function in ["TRAIN_TREE", "TRAIN_FOREST"] {
        let trained = engine
            .query(&format!(
                "SELECT rows FROM {function}('s', (SELECT CASE WHEN id % 6 = 0 THEN NULL ELSE x END AS x, \
                 y, CASE WHEN id % 10 = 0 THEN NULL ELSE parity END AS parity, class FROM points), 'class', \
                 handle_invalid => 'skip')"
            ))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        // ids divisible by 6 or by 10 are skipped: 10 + 6 - 2 (by 30).
        let rows = trained[0].column(0).as_primitive::<UInt64Type>().value(0);
        assert_eq!(rows, 60 - 14, "{function}");
    }
    let err = error_of(
        &engine,
        "SELECT * FROM TRAIN_FOREST('f', TABLE points, 'class', num_trees => 0)",
    )
    .await;
    assert!(err.contains("num_trees => 0"), "{err}");
    assert!(!dir.path().join("models/f").exists());
}
