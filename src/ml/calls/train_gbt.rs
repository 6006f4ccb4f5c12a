//! `TRAIN_GBT('model', input, 'label', num_trees => 100, learning_rate =>
//! 0.1, max_depth => 6, min_samples_leaf => 20, subsample => 1.0, seed =>
//! 0, task => ...)`: gradient-boosted trees, classification (log-loss) or
//! regression (squared error), stored as a new version. The defaults are
//! scikit-learn's `HistGradientBoosting*` where it has the option (100
//! rounds, 0.1, 20 rows per leaf) and XGBoost's depth of 6.

use std::collections::BTreeMap;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use super::call::Call;
use super::evaluate::r_squared;
use super::labels;
use super::train_tree::trained_row;
use crate::error::{Error, Result};
use crate::ml::boosting::{BoostedModel, BoostingOptions};
use crate::ml::features::{encode, fit_features, HandleInvalid};
use crate::ml::predictions::Predictions;
use crate::ml::registry::{Fitted, ModelFile, Registry, Task};

/// The algorithm's name in model files and results.
const ALGORITHM: &str = "gradient_boosted_trees";

/// The options, `features` and `handle_invalid` first.
const OPTIONS: [&str; 9] = [
    "features",
    "handle_invalid",
    "task",
    "num_trees",
    "learning_rate",
    "max_depth",
    "min_samples_leaf",
    "subsample",
    "seed",
];

/// Boosts trees on the call's input and stores a version.
pub(super) async fn train(
    call: &Call,
    ctx: &SessionContext,
    registry: &Registry,
) -> Result<RecordBatch> {
    call.check_options(&OPTIONS)?;
    let label = call.label.clone().expect("TRAIN_GBT has a label");
    let handle =
        HandleInvalid::parse(&call.option_text("handle_invalid").unwrap_or("error".into()))?;
    let options = BoostingOptions {
        num_trees: call.number_option("num_trees")?.unwrap_or(100),
        learning_rate: call.real_option("learning_rate")?.unwrap_or(0.1),
        max_depth: call.number_option("max_depth")?.unwrap_or(6),
        min_samples_leaf: call.number_option("min_samples_leaf")?.unwrap_or(20),
        subsample: call.real_option("subsample")?.unwrap_or(1.0),
        seed: call.number_option("seed")?.unwrap_or(0),
    };
    let input = call.training_input(ctx, &label).await?;
    let task = labels::task(call, &input, &label)?;
    let features = fit_features(&input, &label, call.selected_features()?.as_deref(), handle)?;
    let mut encoded = encode(&input, &features, None, handle)?;
    let labels = labels::labelled(call, &input, &label, &mut encoded, handle)?;
    let (model, classes, accuracy, r2) = if task == Task::Classification {
        let (classes, y) = labels::two_or_more_classes(call, &label, &labels)?;
        let model = BoostedModel::fit_classifier(&encoded.columns, &y, classes.len(), &options)?;
        let Predictions::Classes(predicted, _) = model.predict(&encoded.columns, encoded.rows())
        else {
            return Err(Error::Internal("a classifier predicted numbers".into()));
        };
        let accuracy = labels::accuracy(&predicted, &y);
        (model, classes, Some(accuracy), None)
    } else {
        let y = labels::values(&labels, &label)?;
        let model = BoostedModel::fit_regressor(&encoded.columns, &y, &options)?;
        let Predictions::Values(predicted) = model.predict(&encoded.columns, encoded.rows()) else {
            return Err(Error::Internal("a regressor predicted classes".into()));
        };
        (model, vec![], None, Some(r_squared(&y, &predicted)))
    };
    let parameters: BTreeMap<String, String> = OPTIONS[2..]
        .iter()
        .filter_map(|name| Some((name.to_string(), call.option_text(name)?)))
        .collect();
    let metrics: BTreeMap<String, f64> = [("accuracy", accuracy), ("r2", r2)]
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_string(), value?)))
        .collect();
    let feature_names: Vec<String> = features.iter().map(|f| f.name.clone()).collect();
    let rows = encoded.rows() as u64;
    let version = registry.save(ModelFile {
        format_version: 0,
        name: call.model.clone(),
        version: 0,
        algorithm: ALGORITHM.into(),
        task: task.name().into(),
        label,
        features,
        parameters,
        metrics,
        rows,
        skipped: encoded.skipped as u64,
        fitted: Fitted::Boosted(model),
        classes,
    })?;
    trained_row(
        &call.model,
        version,
        ALGORITHM,
        task.name(),
        rows,
        &feature_names,
        accuracy,
        r2,
    )
}
