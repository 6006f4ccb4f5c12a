//! `TRAIN_LOGISTIC('model', input, 'label', l2 => ..., features => ARRAY[...],
//! handle_invalid => ...)`: logistic regression, binary or multinomial,
//! stored as a new version. `l2` is scikit-learn's `1 / C` (default 1, as
//! its `C = 1`); the intercepts are not penalized.

use std::collections::BTreeMap;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use super::call::Call;
use super::labels;
use super::train_tree::trained_row;
use crate::error::{Error, Result};
use crate::ml::features::{encode, fit_features, HandleInvalid};
use crate::ml::logistic::LogisticModel;
use crate::ml::registry::{Fitted, ModelFile, Registry, Task};

/// The algorithm's name in model files and results.
const ALGORITHM: &str = "logistic_regression";

/// Fits a logistic regression on the call's input and stores a version.
pub(super) async fn train(
    call: &Call,
    ctx: &SessionContext,
    registry: &Registry,
) -> Result<RecordBatch> {
    call.check_options(&["features", "l2", "handle_invalid"])?;
    let label = call.label.clone().expect("TRAIN_LOGISTIC has a label");
    let l2: f64 = match call.option_text("l2") {
        None => 1.0,
        Some(v) => v
            .parse()
            .ok()
            .filter(|l: &f64| *l >= 0.0 && l.is_finite())
            .ok_or_else(|| Error::query(format!("l2 => {v}: give a number >= 0")))?,
    };
    let handle =
        HandleInvalid::parse(&call.option_text("handle_invalid").unwrap_or("error".into()))?;
    let input = call.training_input(ctx, &label).await?;
    let features = fit_features(&input, &label, call.selected_features()?.as_deref(), handle)?;
    let mut encoded = encode(&input, &features, None, handle)?;
    let labels = labels::labelled(call, &input, &label, &mut encoded, handle)?;
    let (classes, y) = labels::two_or_more_classes(call, &label, &labels)?;
    let model = LogisticModel::fit(&encoded.columns, &y, classes.len(), l2)?;
    let (predicted, _) = model.predict(&encoded.columns, encoded.rows());
    let accuracy = labels::accuracy(&predicted, &y);
    let feature_names: Vec<String> = features.iter().map(|f| f.name.clone()).collect();
    let rows = encoded.rows() as u64;
    let version = registry.save(ModelFile {
        format_version: 0,
        name: call.model.clone(),
        version: 0,
        algorithm: ALGORITHM.into(),
        task: Task::Classification.name().into(),
        label,
        features,
        parameters: BTreeMap::from([("l2".to_string(), l2.to_string())]),
        metrics: BTreeMap::from([("accuracy".to_string(), accuracy)]),
        rows,
        skipped: encoded.skipped as u64,
        fitted: Fitted::Logistic(model),
        classes,
    })?;
    trained_row(
        &call.model,
        version,
        ALGORITHM,
        Task::Classification.name(),
        rows,
        &feature_names,
        Some(accuracy),
        None,
    )
}
