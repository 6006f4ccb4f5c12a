//! `TRAIN_TREE` and `TRAIN_FOREST('model', input, 'label', task => ...,
//! max_depth => ..., num_trees => ..., ...)`: a CART tree or a random
//! forest, classification or regression, stored as a new version.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use super::call::{Call, MlFunction};
use super::evaluate::r_squared;
use super::labels;
use crate::error::{Error, Result};
use crate::ml::features::{encode, fit_features, HandleInvalid};
use crate::ml::predictions::Predictions;
use crate::ml::registry::{Fitted, ModelFile, Registry, Task};
use crate::ml::trees::{TreeModel, TreeOptions};

/// Grows a tree (or a forest) on the call's input and stores a version.
pub(super) async fn train(
    call: &Call,
    ctx: &SessionContext,
    registry: &Registry,
) -> Result<RecordBatch> {
    let forest = call.function == MlFunction::TrainForest;
    let mut known = vec![
        "features",
        "handle_invalid",
        "task",
        "max_depth",
        "min_samples_split",
        "min_samples_leaf",
        "seed",
    ];
    if forest {
        known.extend(["num_trees", "max_features"]);
    }
    call.check_options(&known)?;
    let label = call.label.clone().expect("training has a label");
    let handle =
        HandleInvalid::parse(&call.option_text("handle_invalid").unwrap_or("error".into()))?;
    let input = call.training_input(ctx, &label).await?;
    let task = labels::task(call, &input, &label)?;
    let classification = task == Task::Classification;
    let options = TreeOptions {
        max_depth: call.number_option("max_depth")?,
        min_samples_split: call.number_option("min_samples_split")?.unwrap_or(2),
        min_samples_leaf: call.number_option("min_samples_leaf")?.unwrap_or(1),
        num_trees: if forest {
            Some(call.number_option("num_trees")?.unwrap_or(100))
        } else {
            None
        },
        max_features: call.number_option("max_features")?,
        seed: call.number_option("seed")?.unwrap_or(0),
    };
    let features = fit_features(&input, &label, call.selected_features()?.as_deref(), handle)?;
    let mut encoded = encode(&input, &features, None, handle)?;
    let labels = labels::labelled(call, &input, &label, &mut encoded, handle)?;
    let (tree, classes, accuracy, r2) = if classification {
        let (classes, y) = labels::classes(&labels);
        let tree = TreeModel::fit_classifier(&encoded.columns, &y, classes.len(), &options)?;
        let Predictions::Classes(predicted, _) = tree.predict(&encoded.columns, encoded.rows())
        else {
            return Err(Error::Internal("a classifier predicted numbers".into()));
        };
        let accuracy = labels::accuracy(&predicted, &y);
        (tree, classes, Some(accuracy), None)
    } else {
        let y = labels::values(&labels, &label)?;
        let tree = TreeModel::fit_regressor(&encoded.columns, &y, &options)?;
        let Predictions::Values(predicted) = tree.predict(&encoded.columns, encoded.rows()) else {
            return Err(Error::Internal("a regressor predicted classes".into()));
        };
        (tree, vec![], None, Some(r_squared(&y, &predicted)))
    };
    let algorithm = if forest {
        "random_forest"
    } else {
        "decision_tree"
    };
    let task = task.name();
    let mut parameters = BTreeMap::new();
    for name in &known[2..] {
        if let Some(value) = call.option_text(name) {
            parameters.insert(name.to_string(), value);
        }
    }
    let mut metrics = BTreeMap::new();
    if let Some(a) = accuracy {
        metrics.insert("accuracy".to_string(), a);
    }
    if let Some(r) = r2 {
        metrics.insert("r2".to_string(), r);
    }
    let feature_names: Vec<String> = features.iter().map(|f| f.name.clone()).collect();
    let rows = encoded.rows() as u64;
    let version = registry.save(ModelFile {
        format_version: 0,
        name: call.model.clone(),
        version: 0,
        algorithm: algorithm.into(),
        task: task.into(),
        label,
        features,
        parameters,
        metrics,
        rows,
        skipped: encoded.skipped as u64,
        fitted: Fitted::Tree(tree),
        classes,
    })?;
    trained_row(
        &call.model,
        version,
        algorithm,
        task,
        rows,
        &feature_names,
        accuracy,
        r2,
    )
}

/// The one row a supervised training call returns: model, version,
/// algorithm, task, rows, features, and its training accuracy
/// (classification) or R² (regression).
#[allow(clippy::too_many_arguments)]
pub(super) fn trained_row(
    model: &str,
    version: u32,
    algorithm: &str,
    task: &str,
    rows: u64,
    features: &[String],
    accuracy: Option<f64>,
    r2: Option<f64>,
) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("version", DataType::UInt64, false),
        Field::new("algorithm", DataType::Utf8, false),
        Field::new("task", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("features", DataType::Utf8, false),
        Field::new("accuracy", DataType::Float64, true),
        Field::new("r2", DataType::Float64, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![model])),
        Arc::new(UInt64Array::from(vec![u64::from(version)])),
        Arc::new(StringArray::from(vec![algorithm])),
        Arc::new(StringArray::from(vec![task])),
        Arc::new(UInt64Array::from(vec![rows])),
        Arc::new(StringArray::from(vec![features.join(", ")])),
        Arc::new(Float64Array::from(vec![accuracy])),
        Arc::new(Float64Array::from(vec![r2])),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}
