//! Features: a model's input columns, turned into numbers the same way at
//! training and at prediction time.
//!
//! Numeric columns are used as they are, booleans as 0/1, and strings as
//! categories: one indicator column per category but the first (the first is
//! the reference, so an intercept stays identifiable). The categories are
//! part of the model. `handle_invalid` says what a NULL or NaN does: fail
//! with its row number (`error`), drop the row and count it (`skip`), or
//! impute the training mean or the reference category (`keep`).

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a feature is encoded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum FeatureKind {
    /// A number.
    Numeric,
    /// True/false as 1/0.
    Boolean,
    /// Text, one indicator per category after the first.
    Categorical {
        /// The categories seen in training, sorted.
        categories: Vec<String>,
    },
}

/// One input column of a model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Feature {
    /// The column's name.
    pub name: String,
    /// Its encoding.
    pub kind: FeatureKind,
    /// The training mean (numeric and boolean), used by `handle_invalid => 'keep'`.
    pub mean: f64,
}

/// What a NULL or NaN feature or label does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleInvalid {
    /// Fail, naming the row and column.
    Error,
    /// Drop the row and count it.
    Skip,
    /// Impute.
    Keep,
}

impl HandleInvalid {
    /// `error`, `skip` or `keep`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "error" => Ok(HandleInvalid::Error),
            "skip" => Ok(HandleInvalid::Skip),
            "keep" => Ok(HandleInvalid::Keep),
            other => Err(Error::query(format!(
                "handle_invalid => '{other}': use 'error', 'skip' or 'keep'"
            ))),
        }
    }
}

/// Encoded rows.
pub struct Encoded {
    /// One row of numbers per kept input row.
    pub x: Vec<Vec<f64>>,
    /// The label of each kept row, when a label was asked for.
    pub y: Vec<f64>,
    /// Which input rows were kept.
    pub kept: Vec<usize>,
    /// Rows dropped by `handle_invalid => 'skip'`.
    pub skipped: usize,
}

/// The features of `batch`: `selected` columns, or every column but `label`.
pub fn fit_features(
    batch: &RecordBatch,
    label: &str,
    selected: Option<&[String]>,
) -> Result<Vec<Feature>> {
    let schema = batch.schema();
    let names: Vec<String> = match selected {
        Some(names) => names.to_vec(),
        None => schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| n != label)
            .collect(),
    };
    if names.is_empty() {
        return Err(Error::query(
            "the model has no features: give the input columns besides the label",
        ));
    }
    names
        .into_iter()
        .map(|name| {
            let column = batch.column_by_name(&name).ok_or_else(|| {
                Error::query(format!(
                    "feature '{name}' is not a column of the input; it has: {}",
                    column_names(batch)
                ))
            })?;
            let kind = kind_of(&name, column.data_type())?;
            let kind = match kind {
                FeatureKind::Categorical { .. } => {
                    let text = cast(column, &DataType::Utf8)?;
                    let mut categories: Vec<String> = text
                        .as_string::<i32>()
                        .iter()
                        .flatten()
                        .map(String::from)
                        .collect();
                    categories.sort();
                    categories.dedup();
                    FeatureKind::Categorical { categories }
                }
                other => other,
            };
            let mean = match kind {
                FeatureKind::Categorical { .. } => 0.0,
                _ => {
                    let values = numbers(column)?;
                    let valid: Vec<f64> = values
                        .into_iter()
                        .flatten()
                        .filter(|v| v.is_finite())
                        .collect();
                    valid.iter().sum::<f64>() / valid.len().max(1) as f64
                }
            };
            Ok(Feature { name, kind, mean })
        })
        .collect()
}

fn kind_of(name: &str, data_type: &DataType) -> Result<FeatureKind> {
    match data_type {
        t if t.is_numeric() => Ok(FeatureKind::Numeric),
        DataType::Boolean => Ok(FeatureKind::Boolean),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..) => {
            Ok(FeatureKind::Categorical { categories: vec![] })
        }
        other => Err(Error::query(format!(
            "feature '{name}' is {other}; features must be numeric, boolean or text"
        ))),
    }
}

fn column_names(batch: &RecordBatch) -> String {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A column's values as numbers (booleans as 0/1); NULL as `None`.
fn numbers(column: &dyn Array) -> Result<Vec<Option<f64>>> {
    let column = match column.data_type() {
        DataType::Boolean => cast(&cast(column, &DataType::UInt8)?, &DataType::Float64)?,
        _ => cast(column, &DataType::Float64)?,
    };
    Ok(column.as_primitive::<Float64Type>().iter().collect())
}

/// Encodes `batch` with `features`, and its `label` column when given.
pub fn encode(
    batch: &RecordBatch,
    features: &[Feature],
    label: Option<&str>,
    handle: HandleInvalid,
) -> Result<Encoded> {
    let rows = batch.num_rows();
    let width: usize = features
        .iter()
        .map(|f| match &f.kind {
            FeatureKind::Categorical { categories } => categories.len().saturating_sub(1),
            _ => 1,
        })
        .sum();
    let mut x = vec![Vec::with_capacity(width); rows];
    let mut valid = vec![true; rows];
    let mut first_invalid: Option<(usize, String)> = None;
    let mut invalid = |row: usize, column: &str, valid: &mut Vec<bool>| {
        valid[row] = false;
        if first_invalid.as_ref().is_none_or(|(r, _)| row < *r) {
            first_invalid = Some((row, column.to_string()));
        }
    };
    for feature in features {
        let column = batch.column_by_name(&feature.name).ok_or_else(|| {
            Error::query(format!(
                "the model needs column '{}', which the input lacks; it has: {}",
                feature.name,
                column_names(batch)
            ))
        })?;
        match &feature.kind {
            FeatureKind::Categorical { categories } => {
                let text = cast(column, &DataType::Utf8).map_err(|_| {
                    Error::query(format!(
                        "column '{}' must be text for this model",
                        feature.name
                    ))
                })?;
                let text = text.as_string::<i32>();
                for (row, values) in x.iter_mut().enumerate() {
                    let index = if text.is_null(row) {
                        if handle != HandleInvalid::Keep {
                            invalid(row, &feature.name, &mut valid);
                        }
                        0
                    } else {
                        categories
                            .iter()
                            .position(|c| c == text.value(row))
                            .unwrap_or(0)
                    };
                    values.extend((1..categories.len()).map(|c| f64::from(u8::from(c == index))));
                }
            }
            _ => {
                if !(column.data_type().is_numeric() || column.data_type() == &DataType::Boolean) {
                    return Err(Error::query(format!(
                        "column '{}' is {}, but the model was trained on a number there",
                        feature.name,
                        column.data_type()
                    )));
                }
                for (row, value) in numbers(column)?.into_iter().enumerate() {
                    let value = match value.filter(|v| v.is_finite()) {
                        Some(v) => v,
                        None => {
                            if handle != HandleInvalid::Keep {
                                invalid(row, &feature.name, &mut valid);
                            }
                            feature.mean
                        }
                    };
                    x[row].push(value);
                }
            }
        }
    }
    let mut y = Vec::new();
    if let Some(label) = label {
        let column = batch.column_by_name(label).ok_or_else(|| {
            Error::query(format!(
                "label '{label}' is not a column of the input; it has: {}",
                column_names(batch)
            ))
        })?;
        if !(column.data_type().is_numeric() || column.data_type() == &DataType::Boolean) {
            return Err(Error::query(format!(
                "label '{label}' is {}; a linear model needs a numeric label",
                column.data_type()
            )));
        }
        for (row, value) in numbers(column)?.into_iter().enumerate() {
            match value.filter(|v| v.is_finite()) {
                Some(v) => y.push(v),
                None => {
                    invalid(row, label, &mut valid);
                    y.push(f64::NAN);
                }
            }
        }
    }
    if handle == HandleInvalid::Error {
        if let Some((row, column)) = first_invalid {
            return Err(Error::Data(format!(
                "row {}: column '{column}' is NULL or NaN; use handle_invalid => 'skip' to drop \
                 such rows or 'keep' to impute them",
                row + 1
            )));
        }
    }
    let kept: Vec<usize> = (0..rows).filter(|&r| valid[r]).collect();
    let skipped = rows - kept.len();
    let x = kept.iter().map(|&r| std::mem::take(&mut x[r])).collect();
    let y = if label.is_some() {
        kept.iter().map(|&r| y[r]).collect()
    } else {
        vec![]
    };
    Ok(Encoded {
        x,
        y,
        kept,
        skipped,
    })
}
