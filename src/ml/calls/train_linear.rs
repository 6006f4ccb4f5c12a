//! `TRAIN_LINEAR('model', input, 'label', l2 => ..., fit_intercept => ...,
//! features => ARRAY[...], handle_invalid => ...)`: least squares (QR),
//! ridge with `l2`, stored as a new version of the model.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use super::call::Call;
use super::evaluate::r_squared;
use crate::error::{Error, Result};
use crate::ml::features::{encode, fit_features, HandleInvalid};
use crate::ml::linear::LinearModel;
use crate::ml::registry::{Fitted, ModelFile, Registry, Task};

/// Fits least squares on the call's input and stores a version.
pub(super) async fn train(
    call: &Call,
    ctx: &SessionContext,
    registry: &Registry,
) -> Result<RecordBatch> {
    call.check_options(&["features", "l2", "fit_intercept", "handle_invalid"])?;
    let label = call.label.clone().expect("TRAIN_LINEAR has a label");
    let l2: f64 = match call.option_text("l2") {
        None => 0.0,
        Some(v) => v
            .parse()
            .ok()
            .filter(|l: &f64| *l >= 0.0)
            .ok_or_else(|| Error::query(format!("l2 => {v}: give a number >= 0")))?,
    };
    let fit_intercept = match call.option_text("fit_intercept") {
        None => true,
        Some(v) => v
            .parse()
            .map_err(|_| Error::query(format!("fit_intercept => {v}: give true or false")))?,
    };
    let handle =
        HandleInvalid::parse(&call.option_text("handle_invalid").unwrap_or("error".into()))?;
    let selected = call.selected_features()?;
    let input = call.training_input(ctx, &label).await?;
    let features = fit_features(&input, &label, selected.as_deref(), handle)?;
    let encoded = encode(&input, &features, Some(&label), handle)?;
    if encoded.rows() == 0 {
        return Err(Error::Data(format!(
            "TRAIN_LINEAR('{}'): every row was skipped by handle_invalid",
            call.model
        )));
    }
    let model = LinearModel::fit(&encoded.columns, &encoded.y, l2, fit_intercept)?;
    let r2 = r_squared(&encoded.y, &model.predict(&encoded.columns, encoded.rows()));
    let mut parameters = BTreeMap::new();
    parameters.insert("l2".to_string(), l2.to_string());
    parameters.insert("fit_intercept".to_string(), fit_intercept.to_string());
    let feature_names: Vec<String> = features.iter().map(|f| f.name.clone()).collect();
    let version = registry.save(ModelFile {
        format_version: 0,
        name: call.model.clone(),
        version: 0,
        algorithm: "linear_regression".into(),
        task: Task::Regression.name().into(),
        label,
        features,
        parameters,
        metrics: BTreeMap::from([("r2".to_string(), r2)]),
        rows: encoded.rows() as u64,
        skipped: encoded.skipped as u64,
        fitted: Fitted::Linear(model),
        classes: vec![],
    })?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("version", DataType::UInt64, false),
        Field::new("algorithm", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("skipped", DataType::UInt64, false),
        Field::new("features", DataType::Utf8, false),
        Field::new("r2", DataType::Float64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![call.model.clone()])),
        Arc::new(UInt64Array::from(vec![u64::from(version)])),
        Arc::new(StringArray::from(vec!["linear_regression"])),
        Arc::new(UInt64Array::from(vec![encoded.rows() as u64])),
        Arc::new(UInt64Array::from(vec![encoded.skipped as u64])),
        Arc::new(StringArray::from(vec![feature_names.join(", ")])),
        Arc::new(Float64Array::from(vec![r2])),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}
