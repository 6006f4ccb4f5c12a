//! Feeds arbitrary bytes as a model file: written to
//! `<temp data dir>/models/fuzz/v1.json` and read back with
//! `flowsql::ml::registry::Registry::load`, as `PREDICT` reads a model that
//! another process (or a person with an editor) wrote.
//!
//! Checks: loading never panics, loops or allocates without bound; a model
//! that loads also goes through `SHOW MODELS` / `DESCRIBE MODEL`'s batches
//! and predicts on a tiny fixed input (built from its own features: numbers
//! with a NaN and a NULL, booleans, known and unknown categories and a
//! NULL), giving one prediction per kept row, and class indices within its
//! classes.

#![no_main]

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use flowsql::arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray};
use flowsql::arrow::datatypes::{DataType, Field, Schema};
use flowsql::arrow::record_batch::RecordBatch;
use flowsql::ml::features::{encode, FeatureKind, HandleInvalid};
use flowsql::ml::registry::{ModelFile, Registry};
use flowsql::ml::rows::Rows;
use flowsql::ml::trees::Predictions;
use libfuzzer_sys::fuzz_target;

/// The registry's data directory and the model file's path in it.
struct Fixture {
    registry: Registry,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let models = dir.path().join("models").join("fuzz");
    std::fs::create_dir_all(&models).expect("the model directory");
    Fixture {
        registry: Registry::new(dir.path()),
        path: models.join("v1.json"),
        _dir: dir,
    }
});

/// Four rows for `model`'s features, one column per feature.
fn input(model: &ModelFile) -> Rows {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for feature in &model.features {
        if fields.iter().any(|f: &Field| f.name() == &feature.name) {
            continue;
        }
        let (data_type, column): (DataType, ArrayRef) = match &feature.kind {
            FeatureKind::Numeric => (
                DataType::Float64,
                Arc::new(Float64Array::from(vec![
                    Some(0.0),
                    Some(feature.mean),
                    Some(f64::NAN),
                    None,
                ])),
            ),
            FeatureKind::Boolean => (
                DataType::Boolean,
                Arc::new(BooleanArray::from(vec![
                    Some(true),
                    Some(false),
                    None,
                    Some(true),
                ])),
            ),
            FeatureKind::Categorical { categories, .. } => {
                let known = categories.first().map(String::as_str);
                let last = categories.last().map(String::as_str);
                (
                    DataType::Utf8,
                    Arc::new(StringArray::from(vec![
                        known,
                        last,
                        Some("never seen in training"),
                        None,
                    ])),
                )
            }
        };
        fields.push(Field::new(feature.name.as_str(), data_type, true));
        columns.push(column);
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .expect("the input batch");
    Rows::from(batch)
}

fn predict(model: &ModelFile) {
    let rows = input(model);
    for handle in [HandleInvalid::Keep, HandleInvalid::Skip] {
        let Ok(encoded) = encode(&rows, &model.features, None, handle) else {
            continue;
        };
        let kept = encoded.rows();
        match model.predict(&encoded) {
            Ok(Predictions::Values(values)) => {
                assert_eq!(values.len(), kept, "one prediction per row");
            }
            Ok(Predictions::Classes(classes)) => {
                assert_eq!(classes.len(), kept, "one class per row");
                for class in classes {
                    assert!(
                        class >= 0 && (class as usize) < model.classes.len().max(1),
                        "class {class} of {} classes",
                        model.classes.len()
                    );
                }
            }
            Err(_) => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let fixture = &*FIXTURE;
    std::fs::write(&fixture.path, data).expect("the model file");
    if let Ok(model) = fixture.registry.load(&fixture.path) {
        let _ = flowsql::ml::describe::versions_batch(std::slice::from_ref(&model));
        let _ = flowsql::ml::describe::models_batch(&fixture.registry);
        predict(&model);
    }
});
