//! `EVALUATE('model', input)`: a regression model's rows, RMSE, MAE and
//! R², or a classifier's accuracy and macro precision, recall and F1 (as
//! scikit-learn averages them), on labelled rows; a k-means model's
//! inertia and silhouette.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use super::call::Call;
use crate::error::{Error, Result};
use crate::ml::features::{encode, HandleInvalid};
use crate::ml::kmeans::KMeansModel;
use crate::ml::predictions::Predictions;
use crate::ml::registry::{ModelFile, Registry, Task};
use crate::ml::rows::Rows;

/// Most rows the silhouette is computed on (it compares every pair); a
/// bigger input is sampled, every `rows / SILHOUETTE_ROWS`-th row.
const SILHOUETTE_ROWS: usize = 10_000;

/// The model's metrics on the call's labelled input.
pub(super) async fn evaluate(
    call: &Call,
    ctx: &SessionContext,
    registry: &Registry,
) -> Result<RecordBatch> {
    call.check_options(&[])?;
    let model = registry.current(&call.model)?;
    let input = call.input(ctx).await?;
    match model.task() {
        Task::Classification => return evaluate_classifier(call, &model, &input),
        Task::Clustering => return evaluate_clusters(call, &model, &input),
        Task::Regression => {}
    }
    let encoded = encode(
        &input,
        &model.features,
        Some(&model.label),
        HandleInvalid::Skip,
    )?;
    if encoded.rows() == 0 {
        return Err(Error::Data(format!(
            "EVALUATE('{}'): the input has no rows with a label and features",
            call.model
        )));
    }
    let Predictions::Values(predicted) = model.predict(&encoded)? else {
        return Err(Error::Internal("regression model predicted classes".into()));
    };
    let n = encoded.y.len() as f64;
    let errors: Vec<f64> = encoded
        .y
        .iter()
        .zip(&predicted)
        .map(|(y, p)| y - p)
        .collect();
    let rmse = (errors.iter().map(|e| e * e).sum::<f64>() / n).sqrt();
    let mae = errors.iter().map(|e| e.abs()).sum::<f64>() / n;
    let schema = Arc::new(Schema::new(vec![
        Field::new("rows", DataType::UInt64, false),
        Field::new("rmse", DataType::Float64, false),
        Field::new("mae", DataType::Float64, false),
        Field::new("r2", DataType::Float64, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(UInt64Array::from(vec![encoded.y.len() as u64])),
            Arc::new(Float64Array::from(vec![rmse])),
            Arc::new(Float64Array::from(vec![mae])),
            Arc::new(Float64Array::from(vec![r_squared(&encoded.y, &predicted)])),
        ],
    )?)
}

/// Accuracy, precision, recall and F1 of a classifier.
fn evaluate_classifier(call: &Call, model: &ModelFile, input: &Rows) -> Result<RecordBatch> {
    let label = input.column(&model.label)?.ok_or_else(|| {
        Error::query(format!(
            "EVALUATE needs the label column '{}' in its input",
            model.label
        ))
    })?;
    let labels = label_values(&label)?;
    let encoded = encode(input, &model.features, None, HandleInvalid::Skip)?;
    let Predictions::Classes(predicted, _) = model.predict(&encoded)? else {
        return Err(Error::Internal("a classifier predicted numbers".into()));
    };
    let mut pairs = Vec::new();
    for (row, p) in encoded.kept.iter().zip(predicted) {
        if let Some(actual) = &labels[*row] {
            let actual = model
                .classes
                .iter()
                .position(|c| c == actual)
                .map_or(-1, |i| i as i64);
            pairs.push((actual, p));
        }
    }
    if pairs.is_empty() {
        return Err(Error::Data(format!(
            "EVALUATE('{}'): no labelled rows",
            call.model
        )));
    }
    let metrics = classification_metrics(&pairs);
    let schema = Arc::new(Schema::new(vec![
        Field::new("rows", DataType::UInt64, false),
        Field::new("accuracy", DataType::Float64, false),
        Field::new("precision", DataType::Float64, false),
        Field::new("recall", DataType::Float64, false),
        Field::new("f1", DataType::Float64, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(UInt64Array::from(vec![pairs.len() as u64])),
            Arc::new(Float64Array::from(vec![metrics[0]])),
            Arc::new(Float64Array::from(vec![metrics[1]])),
            Arc::new(Float64Array::from(vec![metrics[2]])),
            Arc::new(Float64Array::from(vec![metrics[3]])),
        ],
    )?)
}

/// Inertia (the sum of squared distances to the nearest center, as
/// scikit-learn's `inertia_`) and mean silhouette of a k-means model.
fn evaluate_clusters(call: &Call, model: &ModelFile, input: &Rows) -> Result<RecordBatch> {
    let encoded = encode(input, &model.features, None, HandleInvalid::Skip)?;
    if encoded.rows() == 0 {
        return Err(Error::Data(format!(
            "EVALUATE('{}'): the input has no rows with valid features",
            call.model
        )));
    }
    let Predictions::Clusters(clusters, distances) = model.predict(&encoded)? else {
        return Err(Error::Internal(
            "a k-means model predicted no clusters".into(),
        ));
    };
    let rows = encoded.rows();
    let step = rows.div_ceil(SILHOUETTE_ROWS);
    let sample: Vec<usize> = (0..rows).step_by(step).collect();
    let silhouette = KMeansModel::silhouette(&encoded.columns, &clusters, &sample);
    let schema = Arc::new(Schema::new(vec![
        Field::new("rows", DataType::UInt64, false),
        Field::new("skipped", DataType::UInt64, false),
        Field::new("inertia", DataType::Float64, false),
        Field::new("silhouette", DataType::Float64, false),
        Field::new("silhouette_rows", DataType::UInt64, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(UInt64Array::from(vec![rows as u64])),
            Arc::new(UInt64Array::from(vec![encoded.skipped as u64])),
            Arc::new(Float64Array::from(vec![distances.iter().sum::<f64>()])),
            Arc::new(Float64Array::from(vec![silhouette])),
            Arc::new(UInt64Array::from(vec![sample.len() as u64])),
        ],
    )?)
}

/// Accuracy and macro precision, recall and F1 (over the classes seen in
/// the actual or predicted labels, as scikit-learn averages them).
fn classification_metrics(pairs: &[(i64, i64)]) -> [f64; 4] {
    let accuracy = pairs.iter().filter(|(a, p)| a == p).count() as f64 / pairs.len() as f64;
    let mut classes: Vec<i64> = pairs.iter().flat_map(|(a, p)| [*a, *p]).collect();
    classes.sort_unstable();
    classes.dedup();
    let (mut precision, mut recall, mut f1) = (0.0, 0.0, 0.0);
    for class in &classes {
        let tp = pairs
            .iter()
            .filter(|(a, p)| a == class && p == class)
            .count() as f64;
        let fp = pairs
            .iter()
            .filter(|(a, p)| a != class && p == class)
            .count() as f64;
        let fn_ = pairs
            .iter()
            .filter(|(a, p)| a == class && p != class)
            .count() as f64;
        let p = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        let r = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
        precision += p;
        recall += r;
        f1 += if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
    }
    let n = classes.len() as f64;
    [accuracy, precision / n, recall / n, f1 / n]
}

/// A label column's values as text (NULL as `None`).
pub(super) fn label_values(column: &ArrayRef) -> Result<Vec<Option<String>>> {
    use datafusion::arrow::array::AsArray;
    let text = datafusion::arrow::compute::cast(column, &DataType::Utf8)?;
    Ok(text
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(String::from))
        .collect())
}

/// The coefficient of determination of `predicted` against `actual`.
pub(super) fn r_squared(actual: &[f64], predicted: &[f64]) -> f64 {
    let mean = actual.iter().sum::<f64>() / actual.len().max(1) as f64;
    let total: f64 = actual.iter().map(|y| (y - mean).powi(2)).sum();
    let residual: f64 = actual
        .iter()
        .zip(predicted)
        .map(|(y, p)| (y - p).powi(2))
        .sum();
    if total == 0.0 {
        return if residual == 0.0 { 1.0 } else { 0.0 };
    }
    1.0 - residual / total
}
