//! The rows of `SHOW MODELS`, `DESCRIBE MODEL`, `ML_WEIGHTS` and
//! `ML_FEATURE_IMPORTANCE`.

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;

use super::features::FeatureKind;
use super::registry::{ModelFile, Registry};
use crate::error::{Error, Result};

/// One row per model: its newest version and how it did. A model whose
/// newest file cannot be read is listed too, with the reason in `error`.
pub fn models_batch(registry: &Registry) -> Result<RecordBatch> {
    let names = registry.names()?;
    let latest: Vec<Result<ModelFile>> = names.iter().map(|name| registry.current(name)).collect();
    // No versions for a directory that is no model: its error says why.
    let versions: Vec<u64> = names
        .iter()
        .map(|name| registry.version_count(name).map_or(0, |n| n as u64))
        .collect();
    let ok = |f: fn(&ModelFile) -> String| {
        StringArray::from_iter(latest.iter().map(|m| m.as_ref().ok().map(f)))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("versions", DataType::UInt64, false),
        Field::new("algorithm", DataType::Utf8, true),
        Field::new("label", DataType::Utf8, true),
        Field::new("rows", DataType::UInt64, true),
        Field::new("r2", DataType::Float64, true),
        Field::new("error", DataType::Utf8, true),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(names.iter())),
            Arc::new(UInt64Array::from(versions)),
            Arc::new(ok(|m| m.algorithm.clone())),
            Arc::new(ok(|m| m.label.clone())),
            Arc::new(UInt64Array::from_iter(
                latest.iter().map(|m| m.as_ref().ok().map(|m| m.rows)),
            )),
            Arc::new(Float64Array::from_iter(latest.iter().map(|m| {
                m.as_ref().ok().and_then(|m| m.metrics.get("r2").copied())
            }))),
            Arc::new(StringArray::from_iter(
                latest
                    .iter()
                    .map(|m| m.as_ref().err().map(|e| e.to_string())),
            )),
        ],
    )?)
}

/// `DESCRIBE MODEL`: one row per version and property (version, property,
/// value), so that it reads in a terminal: algorithm, task, label, rows,
/// skipped, classes, then `feature <name>` (its type), `parameter <name>`,
/// `metric <name>`, and the fit: `intercept` and `coefficient <column>`
/// (linear; logistic: `coefficient <column> [class]`), `importance
/// <column>` (trees, forests, boosted trees) or `center <n>` (k-means).
pub fn versions_batch(versions: &[ModelFile]) -> Result<RecordBatch> {
    let (mut version, mut property, mut value) = (Vec::new(), Vec::new(), Vec::new());
    for model in versions {
        for (name, text) in properties(model) {
            version.push(u64::from(model.version));
            property.push(name);
            value.push(text);
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("version", DataType::UInt64, false),
        Field::new("property", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(UInt64Array::from(version)),
            Arc::new(StringArray::from(property)),
            Arc::new(StringArray::from(value)),
        ],
    )?)
}

/// One version's properties, in the order `DESCRIBE MODEL` shows them.
fn properties(model: &ModelFile) -> Vec<(String, String)> {
    let mut out = vec![
        ("algorithm".to_string(), model.algorithm.clone()),
        ("task".to_string(), model.task.clone()),
    ];
    if !model.label.is_empty() {
        out.push(("label".into(), model.label.clone()));
    }
    out.push(("rows".into(), model.rows.to_string()));
    out.push(("skipped".into(), model.skipped.to_string()));
    if !model.classes.is_empty() {
        out.push(("classes".into(), model.classes.join(", ")));
    }
    for feature in &model.features {
        let kind = match &feature.kind {
            FeatureKind::Numeric => "numeric".to_string(),
            FeatureKind::Boolean => "boolean".to_string(),
            FeatureKind::Categorical {
                categories,
                null_category,
            } => {
                let null = if *null_category { "|NULL" } else { "" };
                format!("categorical[{}{null}]", categories.join("|"))
            }
        };
        out.push((format!("feature {}", feature.name), kind));
    }
    for (name, text) in &model.parameters {
        out.push((format!("parameter {name}"), text.clone()));
    }
    for (name, metric) in &model.metrics {
        out.push((format!("metric {name}"), metric.to_string()));
    }
    let names: Vec<String> = encoded_columns(model).iter().map(column_name).collect();
    for weight in weights(model) {
        let column = weight.column.as_ref().map(column_name);
        let name = match (column, &weight.class) {
            (None, None) => "intercept".to_string(),
            (None, Some(class)) => format!("intercept [{class}]"),
            (Some(column), None) => format!("coefficient {column}"),
            (Some(column), Some(class)) => format!("coefficient {column} [{class}]"),
        };
        out.push((name, weight.weight.to_string()));
    }
    if let Some(importances) = model.importances() {
        for (name, importance) in names.iter().zip(importances) {
            out.push((format!("importance {name}"), format!("{importance:.6}")));
        }
    }
    if let Some(kmeans) = model.kmeans() {
        for (i, center) in kmeans.centers.iter().enumerate() {
            let coordinates: Vec<String> = names
                .iter()
                .zip(center)
                .map(|(n, c)| format!("{n}: {c}"))
                .collect();
            out.push((format!("center {i}"), coordinates.join(", ")));
        }
    }
    out
}

/// An encoded column: its feature, and the category it stands for (a
/// one-hot column of a categorical feature).
type Column = (String, Option<String>);

/// `feature`, or `feature=category`.
fn column_name((feature, category): &Column) -> String {
    match category {
        Some(category) => format!("{feature}={category}"),
        None => feature.clone(),
    }
}

/// A model's encoded columns in order: a numeric or boolean feature is
/// one; a categorical one is one per category after the first (and one
/// for NULL when it has that category).
fn encoded_columns(model: &ModelFile) -> Vec<Column> {
    let mut columns = Vec::new();
    for f in &model.features {
        match &f.kind {
            FeatureKind::Categorical {
                categories,
                null_category,
            } => {
                columns.extend(
                    categories
                        .iter()
                        .skip(1)
                        .map(|c| (f.name.clone(), Some(c.clone()))),
                );
                if *null_category {
                    columns.push((f.name.clone(), Some("NULL".into())));
                }
            }
            _ => columns.push((f.name.clone(), None)),
        }
    }
    columns
}

/// One weight of a linear or logistic model.
struct Weight {
    /// The encoded column (`None`: the intercept).
    column: Option<Column>,
    /// The class the weight scores (logistic regression).
    class: Option<String>,
    weight: f64,
}

/// The intercepts and coefficients of a linear or logistic model (none for
/// other models). A binary logistic model's weights score its second class.
fn weights(model: &ModelFile) -> Vec<Weight> {
    let columns = encoded_columns(model);
    let rows: Vec<(Option<String>, f64, &[f64])> = if let Some(linear) = model.linear() {
        vec![(None, linear.intercept, &linear.coefficients)]
    } else if let Some(logistic) = model.logistic() {
        let first = usize::from(logistic.coefficients.len() == 1);
        logistic
            .coefficients
            .iter()
            .zip(&logistic.intercepts)
            .enumerate()
            .map(|(k, (c, i))| (model.classes.get(k + first).cloned(), *i, c.as_slice()))
            .collect()
    } else {
        vec![]
    };
    let mut out = Vec::new();
    for (class, intercept, coefficients) in rows {
        out.push(Weight {
            column: None,
            class: class.clone(),
            weight: intercept,
        });
        out.extend(columns.iter().zip(coefficients).map(|(column, c)| Weight {
            column: Some(column.clone()),
            class: class.clone(),
            weight: *c,
        }));
    }
    out
}

/// `ML_WEIGHTS('m')`: one row per weight of a linear or logistic model:
/// feature (NULL for the intercept), category (of a one-hot column), class
/// (logistic regression: the class the weight scores) and weight.
pub fn weights_batch(model: &ModelFile) -> Result<RecordBatch> {
    let weights = weights(model);
    if weights.is_empty() {
        return Err(Error::query(format!(
            "ML_WEIGHTS('{}'): a {} model has no weights; ML_FEATURE_IMPORTANCE('{}') \
             gives its feature importances, DESCRIBE MODEL its properties",
            model.name, model.algorithm, model.name
        )));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("feature", DataType::Utf8, true),
        Field::new("category", DataType::Utf8, true),
        Field::new("class", DataType::Utf8, true),
        Field::new("weight", DataType::Float64, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter(
                weights
                    .iter()
                    .map(|w| w.column.as_ref().map(|c| c.0.clone())),
            )),
            Arc::new(StringArray::from_iter(
                weights
                    .iter()
                    .map(|w| w.column.as_ref().and_then(|c| c.1.clone())),
            )),
            Arc::new(StringArray::from_iter(
                weights.iter().map(|w| w.class.clone()),
            )),
            Arc::new(Float64Array::from_iter_values(
                weights.iter().map(|w| w.weight),
            )),
        ],
    )?)
}

/// `ML_FEATURE_IMPORTANCE('m')`: one row per encoded column of a tree,
/// forest or boosted model: feature, category (of a one-hot column) and
/// importance (the share of the impurity decrease, summing to 1).
pub fn importance_batch(model: &ModelFile) -> Result<RecordBatch> {
    let Some(importances) = model.importances() else {
        return Err(Error::query(format!(
            "ML_FEATURE_IMPORTANCE('{}'): a {} model has no feature importances \
             (trees, forests and boosted trees do){}",
            model.name,
            model.algorithm,
            if model.linear().is_some() || model.logistic().is_some() {
                format!("; ML_WEIGHTS('{}') gives its weights", model.name)
            } else {
                String::new()
            }
        )));
    };
    let columns = encoded_columns(model);
    let schema = Arc::new(Schema::new(vec![
        Field::new("feature", DataType::Utf8, false),
        Field::new("category", DataType::Utf8, true),
        Field::new("importance", DataType::Float64, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                columns.iter().map(|c| c.0.clone()),
            )),
            Arc::new(StringArray::from_iter(columns.iter().map(|c| c.1.clone()))),
            Arc::new(Float64Array::from(importances.to_vec())),
        ],
    )?)
}
