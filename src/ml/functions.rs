//! `TRAIN_LINEAR`, `PREDICT` and `EVALUATE` in `FROM`, resolved by the
//! engine before DataFusion plans the query.
//!
//! ```sql
//! SELECT * FROM TRAIN_LINEAR('price_model', TABLE houses, 'price', l2 => 0.1);
//! SELECT * FROM PREDICT('price_model', (SELECT sqft, rooms FROM new_houses));
//! SELECT * FROM EVALUATE('price_model', TABLE test_houses);
//! ```
//!
//! `TABLE name` is first rewritten to `(SELECT * FROM name)` so the call
//! parses. Then each call's input query is run, the model is trained or
//! applied, and the call is replaced by a temporary in-memory table holding
//! its result; the rest of the query is ordinary DataFusion SQL over it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray, UInt64Array};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArgOperator, SetExpr, Statement, TableFactor, Value,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use super::features::{encode, fit_features, HandleInvalid};
use super::linear::LinearModel;
use super::registry::{ModelFile, Registry};
use crate::error::{from_parser_error, Error, Result};

/// The table functions resolved here.
pub const ML_FUNCTIONS: [&str; 3] = ["TRAIN_LINEAR", "PREDICT", "EVALUATE"];

static TEMPORARY: AtomicU64 = AtomicU64::new(0);

/// Rewrites `TABLE name` arguments of ML calls into `(SELECT * FROM name)`.
pub fn rewrite_table_arguments(sql: &str) -> String {
    let upper = sql.to_ascii_uppercase();
    if !ML_FUNCTIONS.iter().any(|f| upper.contains(f)) {
        return sql.to_string();
    }
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return sql.to_string();
    };
    let is_word = |t: &Token, w: &str| matches!(t, Token::Word(word) if word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w));
    let next_significant =
        |from: usize| (from..tokens.len()).find(|&i| !matches!(tokens[i], Token::Whitespace(_)));
    let mut out = String::with_capacity(sql.len());
    // Depth of parentheses inside ML calls (0: outside any).
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        if depth == 0 && ML_FUNCTIONS.iter().any(|f| is_word(token, f)) {
            if let Some(open) = next_significant(i + 1).filter(|&j| tokens[j] == Token::LParen) {
                for t in &tokens[i..=open] {
                    out.push_str(&t.to_string());
                }
                depth = 1;
                i = open + 1;
                continue;
            }
        }
        if depth > 0 {
            match token {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                _ => {}
            }
            if depth == 1 && is_word(token, "TABLE") {
                if let Some(name_at) = next_significant(i + 1) {
                    if let Token::Word(name) = &tokens[name_at] {
                        out.push_str(&format!("(SELECT * FROM {name})"));
                        i = name_at + 1;
                        continue;
                    }
                }
            }
        }
        out.push_str(&token.to_string());
        i += 1;
    }
    out
}

/// Resolves the ML calls in the FROM clause of `statement`, registering
/// their results as temporary tables in `ctx`; returns those tables' names,
/// to deregister once the statement is planned.
pub async fn resolve(
    ctx: &SessionContext,
    registry: &Registry,
    statement: &mut DFStatement,
) -> Result<Vec<String>> {
    let DFStatement::Statement(inner) = statement else {
        return Ok(vec![]);
    };
    let Statement::Query(query) = inner.as_mut() else {
        return Ok(vec![]);
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Ok(vec![]);
    };
    let mut temporaries = Vec::new();
    for from in &mut select.from {
        let relations = std::iter::once(&mut from.relation)
            .chain(from.joins.iter_mut().map(|j| &mut j.relation));
        for relation in relations {
            let TableFactor::Table {
                name,
                args: Some(args),
                alias,
                ..
            } = relation
            else {
                continue;
            };
            let function = name.to_string().to_ascii_uppercase();
            if !ML_FUNCTIONS.contains(&function.as_str()) {
                continue;
            }
            let call = Call::parse(&function, &args.args)?;
            let batch = call.run(ctx, registry).await?;
            let temporary = format!("__flowsql_ml_{}", TEMPORARY.fetch_add(1, Ordering::Relaxed));
            let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
            ctx.register_table(temporary.as_str(), Arc::new(table))?;
            let alias = alias
                .as_ref()
                .map_or_else(|| function.to_ascii_lowercase(), |a| a.name.to_string());
            let replacement = Parser::new(&GenericDialect {})
                .try_with_sql(&format!("SELECT * FROM {temporary} AS {alias}"))
                .and_then(|mut p| p.parse_query())
                .map_err(from_parser_error)?;
            if let SetExpr::Select(parsed) = *replacement.body {
                *relation = parsed.from[0].relation.clone();
            }
            temporaries.push(temporary);
        }
    }
    Ok(temporaries)
}

/// One ML call, its arguments checked.
struct Call {
    function: String,
    model: String,
    input: String,
    label: Option<String>,
    options: BTreeMap<String, Expr>,
}

impl Call {
    fn parse(function: &str, args: &[FunctionArg]) -> Result<Self> {
        let usage = || {
            Error::query(match function {
                "TRAIN_LINEAR" => "TRAIN_LINEAR is written TRAIN_LINEAR('model', TABLE t or (SELECT ...), 'label', option => value, ...)",
                "PREDICT" => "PREDICT is written PREDICT('model', TABLE t or (SELECT ...))",
                _ => "EVALUATE is written EVALUATE('model', TABLE t or (SELECT ...))",
            })
        };
        let mut positional = Vec::new();
        let mut options = BTreeMap::new();
        for arg in args {
            match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => positional.push(e.clone()),
                FunctionArg::Named {
                    name,
                    arg: FunctionArgExpr::Expr(e),
                    operator: FunctionArgOperator::RightArrow,
                } => {
                    options.insert(name.value.to_ascii_lowercase(), e.clone());
                }
                _ => return Err(usage()),
            }
        }
        let text = |e: &Expr| match e {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        };
        let model = positional.first().and_then(text).ok_or_else(usage)?;
        let input = match positional.get(1) {
            Some(Expr::Subquery(query)) => query.to_string(),
            _ => return Err(usage()),
        };
        let label = match function {
            "TRAIN_LINEAR" => Some(positional.get(2).and_then(text).ok_or_else(usage)?),
            _ => None,
        };
        let expected = if label.is_some() { 3 } else { 2 };
        if positional.len() != expected {
            return Err(usage());
        }
        Ok(Call {
            function: function.to_string(),
            model,
            input,
            label,
            options,
        })
    }

    fn option_text(&self, name: &str) -> Option<String> {
        self.options.get(name).map(|e| match e {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            other => other.to_string(),
        })
    }

    fn check_options(&self, known: &[&str]) -> Result<()> {
        for name in self.options.keys() {
            if !known.contains(&name.as_str()) {
                return Err(Error::query(format!(
                    "{} has no option '{name}'; it takes: {}",
                    self.function,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
        Ok(())
    }

    async fn input(&self, ctx: &SessionContext) -> Result<RecordBatch> {
        let frame = ctx.sql(&self.input).await?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await?;
        Ok(concat_batches(&schema, &batches)?)
    }

    async fn run(&self, ctx: &SessionContext, registry: &Registry) -> Result<RecordBatch> {
        match self.function.as_str() {
            "TRAIN_LINEAR" => self.train_linear(ctx, registry).await,
            "PREDICT" => self.predict(ctx, registry).await,
            _ => self.evaluate(ctx, registry).await,
        }
    }

    async fn train_linear(&self, ctx: &SessionContext, registry: &Registry) -> Result<RecordBatch> {
        self.check_options(&["features", "l2", "fit_intercept", "handle_invalid"])?;
        let label = self.label.clone().expect("TRAIN_LINEAR has a label");
        let l2: f64 = match self.option_text("l2") {
            None => 0.0,
            Some(v) => v
                .parse()
                .ok()
                .filter(|l: &f64| *l >= 0.0)
                .ok_or_else(|| Error::query(format!("l2 => {v}: give a number >= 0")))?,
        };
        let fit_intercept = match self.option_text("fit_intercept") {
            None => true,
            Some(v) => v
                .parse()
                .map_err(|_| Error::query(format!("fit_intercept => {v}: give true or false")))?,
        };
        let handle =
            HandleInvalid::parse(&self.option_text("handle_invalid").unwrap_or("error".into()))?;
        let selected: Option<Vec<String>> = match self.options.get("features") {
            None => None,
            Some(Expr::Array(array)) => Some(
                array
                    .elem
                    .iter()
                    .map(|e| match e {
                        Expr::Value(v) => match &v.value {
                            Value::SingleQuotedString(s) => Ok(s.clone()),
                            _ => Err(Error::query(
                                "features => ARRAY['a', 'b']: give column names as strings",
                            )),
                        },
                        _ => Err(Error::query(
                            "features => ARRAY['a', 'b']: give column names as strings",
                        )),
                    })
                    .collect::<Result<_>>()?,
            ),
            Some(_) => {
                return Err(Error::query(
                    "features => ARRAY['a', 'b']: give column names as strings",
                ))
            }
        };
        let input = self.input(ctx).await?;
        if input.column_by_name(&label).is_none() {
            return Err(Error::query(format!(
                "label '{label}' is not a column of the input; it has: {}",
                input
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if input.num_rows() == 0 {
            return Err(Error::Data(format!(
                "TRAIN_LINEAR('{}'): the training input has no rows",
                self.model
            )));
        }
        let features = fit_features(&input, &label, selected.as_deref())?;
        let encoded = encode(&input, &features, Some(&label), handle)?;
        if encoded.x.is_empty() {
            return Err(Error::Data(format!(
                "TRAIN_LINEAR('{}'): every row was skipped by handle_invalid",
                self.model
            )));
        }
        let model = LinearModel::fit(&encoded.x, &encoded.y, l2, fit_intercept)?;
        let r2 = r_squared(&encoded.y, &model.predict(&encoded.x));
        let mut parameters = BTreeMap::new();
        parameters.insert("l2".to_string(), l2.to_string());
        parameters.insert("fit_intercept".to_string(), fit_intercept.to_string());
        let feature_names: Vec<String> = features.iter().map(|f| f.name.clone()).collect();
        let version = registry.save(ModelFile {
            format_version: 0,
            name: self.model.clone(),
            version: 0,
            algorithm: "linear_regression".into(),
            task: "regression".into(),
            label,
            features,
            parameters,
            metrics: BTreeMap::from([("r2".to_string(), r2)]),
            rows: encoded.x.len() as u64,
            skipped: encoded.skipped as u64,
            linear: Some(model),
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
            Arc::new(StringArray::from(vec![self.model.clone()])),
            Arc::new(UInt64Array::from(vec![u64::from(version)])),
            Arc::new(StringArray::from(vec!["linear_regression"])),
            Arc::new(UInt64Array::from(vec![encoded.x.len() as u64])),
            Arc::new(UInt64Array::from(vec![encoded.skipped as u64])),
            Arc::new(StringArray::from(vec![feature_names.join(", ")])),
            Arc::new(Float64Array::from(vec![r2])),
        ];
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    fn linear(model: &ModelFile) -> Result<&LinearModel> {
        model.linear.as_ref().ok_or_else(|| {
            Error::Data(format!("model '{}' has no linear coefficients", model.name))
        })
    }

    async fn predict(&self, ctx: &SessionContext, registry: &Registry) -> Result<RecordBatch> {
        self.check_options(&[])?;
        let model = registry.latest(&self.model)?;
        let input = self.input(ctx).await?;
        // Every input row gets a prediction: missing values are imputed.
        let encoded = encode(&input, &model.features, None, HandleInvalid::Keep)?;
        let predictions = Self::linear(&model)?.predict(&encoded.x);
        let mut fields: Vec<Field> = input
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("prediction", DataType::Float64, false));
        let mut columns = input.columns().to_vec();
        columns.push(Arc::new(Float64Array::from(predictions)));
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }

    async fn evaluate(&self, ctx: &SessionContext, registry: &Registry) -> Result<RecordBatch> {
        self.check_options(&[])?;
        let model = registry.latest(&self.model)?;
        let input = self.input(ctx).await?;
        let encoded = encode(
            &input,
            &model.features,
            Some(&model.label),
            HandleInvalid::Skip,
        )?;
        if encoded.x.is_empty() {
            return Err(Error::Data(format!(
                "EVALUATE('{}'): the input has no rows with a label and features",
                self.model
            )));
        }
        let predicted = Self::linear(&model)?.predict(&encoded.x);
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
}

/// The coefficient of determination of `predicted` against `actual`.
pub fn r_squared(actual: &[f64], predicted: &[f64]) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_arguments_become_subqueries_inside_ml_calls_only() {
        assert_eq!(
            rewrite_table_arguments(
                "SELECT * FROM TRAIN_LINEAR('m', TABLE houses, 'price', l2 => 0.1)"
            ),
            "SELECT * FROM TRAIN_LINEAR('m', (SELECT * FROM houses), 'price', l2 => 0.1)"
        );
        let other = "SELECT * FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' SECOND))";
        assert_eq!(rewrite_table_arguments(other), other);
    }
}
