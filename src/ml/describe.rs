//! The rows of `SHOW MODELS` and `DESCRIBE MODEL`.

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;

use super::features::FeatureKind;
use super::registry::{ModelFile, Registry};
use crate::error::Result;

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

/// One row per version: features and types, parameters, metrics, the
/// coefficients of linear models and the feature importances of trees.
pub fn versions_batch(versions: &[ModelFile]) -> Result<RecordBatch> {
    let features = versions.iter().map(|m| {
        m.features
            .iter()
            .map(|f| {
                let kind = match &f.kind {
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
                format!("{} {kind}", f.name)
            })
            .collect::<Vec<_>>()
            .join(", ")
    });
    let map = |m: &std::collections::BTreeMap<String, String>| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let coefficients = versions.iter().map(|m| {
        m.linear().map(|linear| {
            let names = encoded_names(m);
            let mut parts = vec![format!("intercept: {}", linear.intercept)];
            parts.extend(
                names
                    .iter()
                    .zip(&linear.coefficients)
                    .map(|(n, c)| format!("{n}: {c}")),
            );
            parts.join(", ")
        })
    });
    let importances = versions.iter().map(|m| {
        m.importances().map(|importances| {
            encoded_names(m)
                .iter()
                .zip(importances)
                .map(|(n, v)| format!("{n}: {v:.4}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
    });
    let schema = Arc::new(Schema::new(vec![
        Field::new("version", DataType::UInt64, false),
        Field::new("algorithm", DataType::Utf8, false),
        Field::new("task", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, false),
        Field::new("features", DataType::Utf8, false),
        Field::new("parameters", DataType::Utf8, false),
        Field::new("metrics", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("coefficients", DataType::Utf8, true),
        Field::new("importances", DataType::Utf8, true),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(UInt64Array::from_iter_values(
                versions.iter().map(|m| u64::from(m.version)),
            )),
            Arc::new(StringArray::from_iter_values(
                versions.iter().map(|m| m.algorithm.clone()),
            )),
            Arc::new(StringArray::from_iter_values(
                versions.iter().map(|m| m.task.clone()),
            )),
            Arc::new(StringArray::from_iter_values(
                versions.iter().map(|m| m.label.clone()),
            )),
            Arc::new(StringArray::from_iter_values(features)),
            Arc::new(StringArray::from_iter_values(
                versions.iter().map(|m| map(&m.parameters)),
            )),
            Arc::new(StringArray::from_iter_values(versions.iter().map(|m| {
                m.metrics
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }))),
            Arc::new(UInt64Array::from_iter_values(
                versions.iter().map(|m| m.rows),
            )),
            Arc::new(StringArray::from_iter(coefficients)),
            Arc::new(StringArray::from_iter(importances)),
        ],
    )?)
}

/// The names of a model's encoded columns: features, and `name=category`
/// for each category after the first.
fn encoded_names(model: &ModelFile) -> Vec<String> {
    let mut names = Vec::new();
    for f in &model.features {
        match &f.kind {
            FeatureKind::Categorical {
                categories,
                null_category,
            } => {
                names.extend(categories.iter().skip(1).map(|c| format!("{}={c}", f.name)));
                if *null_category {
                    names.push(format!("{}=NULL", f.name));
                }
            }
            _ => names.push(f.name.clone()),
        }
    }
    names
}
