//! `TRAIN_KMEANS('model', input, k => ..., seed => ..., max_iter => ...,
//! n_init => ..., features => ARRAY[...], handle_invalid => ...)`: k-means
//! clusters of the input's rows (no label), stored as a new version.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use super::call::Call;
use crate::error::{Error, Result};
use crate::ml::features::{encode, fit_features, HandleInvalid};
use crate::ml::kmeans::{KMeansModel, KMeansOptions};
use crate::ml::registry::{Fitted, ModelFile, Registry, Task};

/// The algorithm's name in model files and results.
const ALGORITHM: &str = "kmeans";

/// Clusters the call's input and stores a version.
pub(super) async fn train(
    call: &Call,
    ctx: &SessionContext,
    registry: &Registry,
) -> Result<RecordBatch> {
    const KNOWN: [&str; 6] = [
        "k",
        "seed",
        "max_iter",
        "n_init",
        "features",
        "handle_invalid",
    ];
    call.check_options(&KNOWN)?;
    let options = KMeansOptions {
        k: call
            .number_option("k")?
            .ok_or_else(|| Error::query("TRAIN_KMEANS needs k => <number of clusters>"))?,
        max_iter: call.number_option("max_iter")?.unwrap_or(300),
        n_init: call.number_option("n_init")?.unwrap_or(1),
        seed: call.number_option("seed")?.unwrap_or(0),
    };
    let handle =
        HandleInvalid::parse(&call.option_text("handle_invalid").unwrap_or("error".into()))?;
    let input = call.input(ctx).await?;
    if input.num_rows() == 0 {
        return Err(Error::Data(format!(
            "TRAIN_KMEANS('{}'): the training input has no rows",
            call.model
        )));
    }
    // No label: every column but times is a feature unless chosen.
    let features = fit_features(&input, "", call.selected_features()?.as_deref(), handle)?;
    let encoded = encode(&input, &features, None, handle)?;
    if encoded.rows() == 0 {
        return Err(Error::Data(format!(
            "TRAIN_KMEANS('{}'): every row was skipped by handle_invalid",
            call.model
        )));
    }
    let model = KMeansModel::fit(&encoded.columns, &options)?;
    let (_, distances) = model.assign(&encoded.columns, encoded.rows());
    let inertia: f64 = distances.iter().sum();
    let feature_names: Vec<String> = features.iter().map(|f| f.name.clone()).collect();
    let rows = encoded.rows() as u64;
    let parameters = KNOWN[..4]
        .iter()
        .filter_map(|name| Some((name.to_string(), call.option_text(name)?)))
        .collect();
    let version = registry.save(ModelFile {
        format_version: 0,
        name: call.model.clone(),
        version: 0,
        algorithm: ALGORITHM.into(),
        task: Task::Clustering.name().into(),
        label: String::new(),
        features,
        parameters,
        metrics: BTreeMap::from([("inertia".to_string(), inertia)]),
        rows,
        skipped: encoded.skipped as u64,
        fitted: Fitted::KMeans(model),
        classes: vec![],
    })?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("version", DataType::UInt64, false),
        Field::new("algorithm", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("skipped", DataType::UInt64, false),
        Field::new("features", DataType::Utf8, false),
        Field::new("k", DataType::UInt64, false),
        Field::new("inertia", DataType::Float64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![call.model.clone()])),
        Arc::new(UInt64Array::from(vec![u64::from(version)])),
        Arc::new(StringArray::from(vec![ALGORITHM])),
        Arc::new(UInt64Array::from(vec![rows])),
        Arc::new(UInt64Array::from(vec![encoded.skipped as u64])),
        Arc::new(StringArray::from(vec![feature_names.join(", ")])),
        Arc::new(UInt64Array::from(vec![options.k as u64])),
        Arc::new(Float64Array::from(vec![inertia])),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}
