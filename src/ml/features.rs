//! Features: a model's input columns, turned into numbers the same way at
//! training and at prediction time.
//!
//! Numeric columns are used as they are, booleans as 0/1, and strings as
//! categories: one indicator column per category but the first (the first is
//! the reference, so an intercept stays identifiable). The categories are
//! part of the model. `handle_invalid` says what a NULL or NaN does: fail
//! with its row number (`error`), drop the row and count it (`skip`), or
//! impute (`keep`): the training mean for numbers; for text, NULL is a
//! category of its own when training saw it (else the reference).

use std::collections::{BTreeSet, HashMap};

use datafusion::arrow::array::{Array, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use serde::{Deserialize, Serialize};

use super::rows::Rows;
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
        /// Training kept NULLs (`handle_invalid => 'keep'`): they are a
        /// category of their own, with the last indicator.
        #[serde(default)]
        null_category: bool,
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

impl Feature {
    /// How many encoded columns it becomes: one, or one indicator per
    /// category but the first, plus NULL's.
    pub fn width(&self) -> usize {
        match &self.kind {
            FeatureKind::Categorical {
                categories,
                null_category,
            } => categories.len().max(1) - 1 + usize::from(*null_category),
            _ => 1,
        }
    }
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

/// Encoded rows, column by column (the layout QR and tree building scan).
pub struct Encoded {
    /// One column of numbers per encoded feature, each holding the kept rows.
    pub columns: Vec<Vec<f64>>,
    /// The label of each kept row, when a label was asked for.
    pub y: Vec<f64>,
    /// Which input rows were kept.
    pub kept: Vec<usize>,
    /// Rows dropped by `handle_invalid => 'skip'`.
    pub skipped: usize,
}

impl Encoded {
    /// How many rows were kept.
    pub fn rows(&self) -> usize {
        self.kept.len()
    }
}

/// The features of `input`: `selected` columns, or every column but `label`
/// and time columns (timestamps, dates, times, intervals).
/// With `handle`, NULL text becomes a category of its own when it is kept.
pub fn fit_features(
    input: &Rows,
    label: &str,
    selected: Option<&[String]>,
    handle: HandleInvalid,
) -> Result<Vec<Feature>> {
    let names: Vec<String> = match selected {
        Some(names) => names.to_vec(),
        // Every other column but times: a stream's event time (and any
        // date) is when a row happened, not something to learn from.
        None => input
            .schema
            .fields()
            .iter()
            .filter(|f| f.name() != label && !f.data_type().is_temporal())
            .map(|f| f.name().clone())
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
            let pieces = input.pieces(&name).ok_or_else(|| {
                Error::query(format!(
                    "feature '{name}' is not a column of the input; it has: {}",
                    input.column_names()
                ))
            })?;
            let data_type = input.schema.field_with_name(&name)?.data_type();
            let (kind, mean) = match kind_of(&name, data_type)? {
                FeatureKind::Categorical { .. } => {
                    let mut categories = BTreeSet::new();
                    let null_category =
                        handle == HandleInvalid::Keep && pieces.iter().any(|p| p.null_count() > 0);
                    for piece in pieces {
                        let text = cast(piece, &DataType::Utf8)?;
                        for value in text.as_string::<i32>().iter().flatten() {
                            if !categories.contains(value) {
                                categories.insert(value.to_string());
                            }
                        }
                    }
                    let categories = categories.into_iter().collect();
                    let kind = FeatureKind::Categorical {
                        categories,
                        null_category,
                    };
                    (kind, 0.0)
                }
                kind => {
                    let (mut sum, mut count) = (0.0, 0usize);
                    for piece in pieces {
                        let numbers = numbers(piece)?;
                        let (piece_sum, piece_count) = match numbers.nulls() {
                            None => finite_sum(numbers.values()),
                            Some(nulls) => finite_sum(
                                &numbers
                                    .values()
                                    .iter()
                                    .zip(nulls.iter())
                                    .map(|(v, valid)| if valid { *v } else { f64::NAN })
                                    .collect::<Vec<_>>(),
                            ),
                        };
                        sum += piece_sum;
                        count += piece_count;
                    }
                    (kind, sum / count.max(1) as f64)
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
            Ok(FeatureKind::Categorical {
                categories: vec![],
                null_category: false,
            })
        }
        other => Err(Error::query(format!(
            "feature '{name}' is {other}; features must be numeric, boolean or text"
        ))),
    }
}

/// Whether a column of `data_type` can feed `feature`: numeric and boolean
/// features need a number or a boolean (text features take anything).
pub fn check_type(feature: &Feature, data_type: &DataType) -> Result<()> {
    let numeric = data_type.is_numeric() || data_type == &DataType::Boolean;
    if !numeric && !matches!(feature.kind, FeatureKind::Categorical { .. }) {
        return Err(Error::query(format!(
            "column '{}' is {data_type}, but the model was trained on a number there",
            feature.name
        )));
    }
    Ok(())
}

/// A column as numbers (booleans as 0/1); a copy only when its type differs.
fn numbers(column: &dyn Array) -> Result<Float64Array> {
    let column = match column.data_type() {
        DataType::Boolean => cast(&cast(column, &DataType::UInt8)?, &DataType::Float64)?,
        _ => cast(column, &DataType::Float64)?,
    };
    Ok(column.as_primitive::<Float64Type>().clone())
}

/// The sum and count of the finite values, in eight lanes so it vectorizes.
fn finite_sum(values: &[f64]) -> (f64, usize) {
    let mut lanes = [0.0; 8];
    let chunks = values.chunks_exact(8);
    let rest: f64 = chunks.remainder().iter().filter(|v| v.is_finite()).sum();
    for chunk in chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += if v.is_finite() { *v } else { 0.0 };
        }
    }
    let count = values.iter().filter(|v| v.is_finite()).count();
    (lanes.iter().sum::<f64>() + rest, count)
}

/// The rows of `numbers` that are NULL or NaN.
fn invalid_rows(numbers: &Float64Array) -> impl Iterator<Item = usize> + '_ {
    let nulls = numbers.nulls().filter(|n| n.null_count() > 0);
    numbers
        .values()
        .iter()
        .enumerate()
        .filter(move |(row, v)| !v.is_finite() || nulls.is_some_and(|n| n.is_null(*row)))
        .map(|(row, _)| row)
}

/// Encodes `input` with `features`, and its `label` column when given.
pub fn encode(
    input: &Rows,
    features: &[Feature],
    label: Option<&str>,
    handle: HandleInvalid,
) -> Result<Encoded> {
    let rows = input.num_rows();
    let mut columns: Vec<Vec<f64>> = Vec::new();
    let mut valid = vec![true; rows];
    let mut first_invalid: Option<(usize, String)> = None;
    let mut invalid = |row: usize, column: &str, valid: &mut Vec<bool>| {
        valid[row] = false;
        if first_invalid.as_ref().is_none_or(|(r, _)| row < *r) {
            first_invalid = Some((row, column.to_string()));
        }
    };
    for feature in features {
        let pieces = input.pieces(&feature.name).ok_or_else(|| {
            Error::query(format!(
                "the model needs column '{}', which the input lacks; it has: {}",
                feature.name,
                input.column_names()
            ))
        })?;
        match &feature.kind {
            FeatureKind::Categorical {
                categories,
                null_category,
            } => {
                let index: HashMap<&str, usize> = categories
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.as_str(), i))
                    .collect();
                // One indicator per category but the first, then NULL's.
                let null_indicator = categories.len().max(1);
                let mut indicators = vec![vec![0.0; rows]; feature.width()];
                let mut row = 0;
                for piece in pieces {
                    let text = cast(piece, &DataType::Utf8).map_err(|_| {
                        Error::query(format!(
                            "column '{}' must be text for this model",
                            feature.name
                        ))
                    })?;
                    for value in text.as_string::<i32>().iter() {
                        let category = match value {
                            Some(value) => index.get(value).copied().unwrap_or(0),
                            None => {
                                if handle != HandleInvalid::Keep {
                                    invalid(row, &feature.name, &mut valid);
                                }
                                if *null_category {
                                    null_indicator
                                } else {
                                    0
                                }
                            }
                        };
                        if category > 0 {
                            indicators[category - 1][row] = 1.0;
                        }
                        row += 1;
                    }
                }
                columns.extend(indicators);
            }
            _ => {
                let mut values = Vec::with_capacity(rows);
                for piece in pieces {
                    check_type(feature, piece.data_type())?;
                    let numbers = numbers(piece)?;
                    let offset = values.len();
                    values.extend_from_slice(numbers.values());
                    for row in invalid_rows(&numbers) {
                        if handle != HandleInvalid::Keep {
                            invalid(offset + row, &feature.name, &mut valid);
                        }
                        values[offset + row] = feature.mean;
                    }
                }
                columns.push(values);
            }
        }
    }
    let mut y = Vec::new();
    if let Some(label) = label {
        let pieces = input.pieces(label).ok_or_else(|| {
            Error::query(format!(
                "label '{label}' is not a column of the input; it has: {}",
                input.column_names()
            ))
        })?;
        y.reserve(rows);
        for piece in pieces {
            if !(piece.data_type().is_numeric() || piece.data_type() == &DataType::Boolean) {
                return Err(Error::query(format!(
                    "label '{label}' is {}; a linear model needs a numeric label",
                    piece.data_type()
                )));
            }
            let numbers = numbers(piece)?;
            let offset = y.len();
            y.extend_from_slice(numbers.values());
            for row in invalid_rows(&numbers) {
                invalid(offset + row, label, &mut valid);
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
    if skipped > 0 {
        let keep = |values: &mut Vec<f64>| *values = kept.iter().map(|&r| values[r]).collect();
        columns.iter_mut().for_each(keep);
        if label.is_some() {
            keep(&mut y);
        }
    }
    Ok(Encoded {
        columns,
        y,
        kept,
        skipped,
    })
}
