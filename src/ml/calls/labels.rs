//! The label of a training call as a classifier or a regressor sees it:
//! rows without a label dropped (or an error), classes named and indexed,
//! or numbers.

use datafusion::arrow::datatypes::DataType;

use super::call::Call;
use super::evaluate::label_values;
use crate::error::{Error, Result};
use crate::ml::features::{Encoded, HandleInvalid};
use crate::ml::registry::Task;
use crate::ml::rows::Rows;

/// The label's values of the rows `encoded` kept, as text; rows whose label
/// is NULL are an error under `handle_invalid => 'error'`, else dropped
/// from `encoded` and counted as skipped.
pub(super) fn labelled(
    call: &Call,
    input: &Rows,
    label: &str,
    encoded: &mut Encoded,
    handle: HandleInvalid,
) -> Result<Vec<String>> {
    let column = input
        .column(label)?
        .ok_or_else(|| Error::Internal(format!("training input without its label '{label}'")))?;
    let labels = label_values(&column)?;
    let present: Vec<bool> = encoded.kept.iter().map(|r| labels[*r].is_some()).collect();
    if let Some(position) = present.iter().position(|l| !l) {
        if handle == HandleInvalid::Error {
            return Err(Error::Data(format!(
                "row {}: label '{label}' is NULL; use handle_invalid => 'skip'",
                encoded.kept[position] + 1
            )));
        }
        for column in &mut encoded.columns {
            *column = column
                .iter()
                .zip(&present)
                .filter_map(|(v, l)| l.then_some(*v))
                .collect();
        }
        encoded.skipped += present.iter().filter(|l| !**l).count();
        encoded.kept.retain(|r| labels[*r].is_some());
    }
    if encoded.rows() == 0 {
        return Err(Error::Data(format!(
            "{}('{}'): every row was skipped",
            call.function.name(),
            call.model
        )));
    }
    Ok(encoded
        .kept
        .iter()
        .filter_map(|r| labels[*r].clone())
        .collect())
}

/// The task `task => ...` names, or the label's type implies: whole
/// numbers, booleans and text name classes, other numbers are values.
pub(super) fn task(call: &Call, input: &Rows, label: &str) -> Result<Task> {
    if let Some(text) = call.option_text("task") {
        return Task::parse(&text)
            .filter(|t| *t != Task::Clustering)
            .ok_or_else(|| {
                Error::query(format!(
                    "task => '{text}': use 'classification' or 'regression'"
                ))
            });
    }
    let column = input
        .column(label)?
        .ok_or_else(|| Error::Internal(format!("training input without its label '{label}'")))?;
    Ok(
        if column.data_type().is_floating()
            || matches!(column.data_type(), DataType::Decimal128(..))
        {
            Task::Regression
        } else {
            Task::Classification
        },
    )
}

/// The classes of `labels` and each label's index, for a classifier that
/// needs two classes at least (logistic regression, boosting): one class
/// is an error naming the call and the label.
pub(super) fn two_or_more_classes(
    call: &Call,
    label: &str,
    labels: &[String],
) -> Result<(Vec<String>, Vec<u32>)> {
    let (classes, y) = classes(labels);
    if classes.len() < 2 {
        return Err(Error::Data(format!(
            "{}('{}'): label '{label}' has only one class ({}); a classifier needs rows \
             of at least two",
            call.function.name(),
            call.model,
            classes.first().map_or("", String::as_str)
        )));
    }
    Ok((classes, y))
}

/// The classes of `labels`, sorted, and each label's index among them.
pub(super) fn classes(labels: &[String]) -> (Vec<String>, Vec<u32>) {
    let mut classes: Vec<String> = labels.to_vec();
    classes.sort();
    classes.dedup();
    let y = labels
        .iter()
        .map(|v| classes.binary_search(v).unwrap_or(0) as u32)
        .collect();
    (classes, y)
}

/// `labels` as numbers, for regression.
pub(super) fn values(labels: &[String], label: &str) -> Result<Vec<f64>> {
    labels
        .iter()
        .map(|v| {
            v.parse::<f64>().map_err(|_| {
                Error::Data(format!(
                    "label '{label}': '{v}' is not a number; use task => 'classification'"
                ))
            })
        })
        .collect()
}

/// The share of `predicted` classes equal to `y`.
pub(super) fn accuracy(predicted: &[i64], y: &[u32]) -> f64 {
    predicted
        .iter()
        .zip(y)
        .filter(|(p, a)| **p == i64::from(**a))
        .count() as f64
        / y.len().max(1) as f64
}
