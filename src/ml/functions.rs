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
//! parses. A training or EVALUATE call's input query is then run and the
//! call replaced by a temporary in-memory table holding its result; a
//! PREDICT call is replaced by a projection of its input that calls the
//! PREDICT scalar function, so it streams. The rest of the query is
//! ordinary DataFusion SQL over them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray, UInt64Array};
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
use super::rows::Rows;
use super::trees::{Predictions, TreeModel, TreeOptions};
use crate::error::{from_parser_error, Error, Result};
use crate::sql::window_tvf::WINDOW_FUNCTIONS;

/// The table functions resolved here.
pub const ML_FUNCTIONS: [&str; 5] = [
    "TRAIN_LINEAR",
    "TRAIN_TREE",
    "TRAIN_FOREST",
    "PREDICT",
    "EVALUATE",
];

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

/// Resolves the ML calls in the FROM clause of `statement` (a query, or the
/// query of an INSERT): training and EVALUATE run now, their results
/// registered as temporary tables in `ctx` whose names are returned, to
/// deregister once the statement is planned; PREDICT becomes a projection
/// of its input (see [`super::predict::table_form`]).
pub async fn resolve(
    ctx: &SessionContext,
    registry: &Registry,
    statement: &mut DFStatement,
) -> Result<Vec<String>> {
    let DFStatement::Statement(inner) = statement else {
        return Ok(vec![]);
    };
    let query = match inner.as_mut() {
        Statement::Query(query) => query,
        Statement::Insert(insert) => match insert.source.as_mut() {
            Some(query) => query,
            None => return Ok(vec![]),
        },
        _ => return Ok(vec![]),
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
            let alias = alias
                .as_ref()
                .map_or_else(|| function.to_ascii_lowercase(), |a| a.name.to_string());
            let source = if function == "PREDICT" {
                // A projection of the input: runs per batch, also on streams.
                call.check_options(&[])?;
                let model = registry.latest(&call.model)?;
                let input = ctx.state().create_logical_plan(&call.input).await?;
                let columns: Vec<String> = input
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
                super::predict::table_form(&model, &call.input, &columns)?
            } else if call.windowed {
                return Err(Error::query(format!(
                    "{function} over a window function: only training runs per window \
                     (SELECT * FROM TRAIN_...(...)); give {function} a table or a query"
                )));
            } else {
                let batch = call.run(ctx, registry).await?;
                let temporary =
                    format!("__flowsql_ml_{}", TEMPORARY.fetch_add(1, Ordering::Relaxed));
                let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
                ctx.register_table(temporary.as_str(), Arc::new(table))?;
                temporaries.push(temporary.clone());
                temporary
            };
            let replacement = Parser::new(&GenericDialect {})
                .try_with_sql(&format!("SELECT * FROM {source} AS {alias}"))
                .and_then(|mut p| p.parse_query())
                .map_err(from_parser_error)?;
            if let SetExpr::Select(parsed) = *replacement.body {
                *relation = parsed.from[0].relation.clone();
            }
        }
    }
    Ok(temporaries)
}

/// `SELECT * FROM TRAIN_...(..., <window function>, ...)`: the call and the
/// query of its windowed input, when `statement` is exactly that.
pub fn per_window_training(statement: &DFStatement) -> Result<Option<Call>> {
    let DFStatement::Statement(inner) = statement else {
        return Ok(None);
    };
    let Statement::Query(query) = inner.as_ref() else {
        return Ok(None);
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Ok(None);
    };
    let [from] = select.from.as_slice() else {
        return Ok(None);
    };
    let TableFactor::Table {
        name,
        args: Some(args),
        ..
    } = &from.relation
    else {
        return Ok(None);
    };
    let function = name.to_string().to_ascii_uppercase();
    if !function.starts_with("TRAIN_") || !ML_FUNCTIONS.contains(&function.as_str()) {
        return Ok(None);
    }
    let call = Call::parse(&function, &args.args)?;
    if !call.windowed {
        return Ok(None);
    }
    if select.projection.len() != 1
        || select.projection[0].to_string() != "*"
        || !from.joins.is_empty()
    {
        return Err(Error::query(format!(
            "training per window is written SELECT * FROM {function}('model', TABLE(TUMBLE(...)), 'label', ...)"
        )));
    }
    Ok(Some(call))
}

impl Call {
    /// The query whose rows this call trains on.
    pub fn input_sql(&self) -> &str {
        &self.input
    }

    /// The schema of per-window training results.
    pub fn window_results_schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![
            Field::new("window_start", DataType::Utf8, false),
            Field::new("window_end", DataType::Utf8, false),
            Field::new("model", DataType::Utf8, false),
            Field::new("version", DataType::UInt64, false),
            Field::new("rows", DataType::UInt64, false),
            Field::new("r2", DataType::Float64, true),
            Field::new("accuracy", DataType::Float64, true),
        ]))
    }

    /// Trains one version per window of `batch` (rows of a window function,
    /// with window_start and window_end); returns one result row per window.
    pub async fn train_windows(
        &mut self,
        ctx: &SessionContext,
        registry: &Registry,
        batch: &RecordBatch,
    ) -> Result<Vec<RecordBatch>> {
        use datafusion::arrow::array::{Array, AsArray};
        use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
        let schema = batch.schema();
        let (Ok(start), Ok(end)) = (
            schema.index_of("window_start"),
            schema.index_of("window_end"),
        ) else {
            return Err(Error::Internal(
                "windowed training input without window columns".into(),
            ));
        };
        // Formatters are not Send: turn the bounds into text before awaiting.
        let row_windows: Vec<(String, String)> = {
            let options = FormatOptions::default();
            let starts = ArrayFormatter::try_new(batch.column(start).as_ref(), &options)?;
            let ends = ArrayFormatter::try_new(batch.column(end).as_ref(), &options)?;
            (0..batch.num_rows())
                .map(|r| (starts.value(r).to_string(), ends.value(r).to_string()))
                .collect()
        };
        let mut windows = row_windows.clone();
        windows.sort();
        windows.dedup();
        let keep: Vec<usize> = (0..schema.fields().len())
            .filter(|i| {
                !["window_start", "window_end", "window_time"]
                    .contains(&schema.field(*i).name().as_str())
            })
            .collect();
        let mut results = Vec::new();
        for (window_start, window_end) in windows {
            let mask: datafusion::arrow::array::BooleanArray = (0..batch.num_rows())
                .map(|r| Some(row_windows[r].0 == window_start && row_windows[r].1 == window_end))
                .collect();
            let rows =
                datafusion::arrow::compute::filter_record_batch(batch, &mask)?.project(&keep)?;
            self.given = Some(rows);
            let trained = self.run(ctx, registry).await?;
            self.given = None;
            let column = |name: &str| {
                trained
                    .schema()
                    .index_of(name)
                    .ok()
                    .map(|i| trained.column(i).clone())
            };
            let metric = |name: &str| {
                column(name).and_then(|c| {
                    c.as_primitive_opt::<datafusion::arrow::datatypes::Float64Type>()
                        .and_then(|a| (!a.is_null(0)).then(|| a.value(0)))
                })
            };
            let version = column("version")
                .and_then(|c| {
                    c.as_primitive_opt::<datafusion::arrow::datatypes::UInt64Type>()
                        .map(|a| a.value(0))
                })
                .unwrap_or_default();
            let rows = column("rows")
                .and_then(|c| {
                    c.as_primitive_opt::<datafusion::arrow::datatypes::UInt64Type>()
                        .map(|a| a.value(0))
                })
                .unwrap_or_default();
            results.push(RecordBatch::try_new(
                Self::window_results_schema(),
                vec![
                    Arc::new(StringArray::from(vec![window_start])),
                    Arc::new(StringArray::from(vec![window_end])),
                    Arc::new(StringArray::from(vec![self.model.clone()])),
                    Arc::new(UInt64Array::from(vec![version])),
                    Arc::new(UInt64Array::from(vec![rows])),
                    Arc::new(Float64Array::from(vec![metric("r2")])),
                    Arc::new(Float64Array::from(vec![metric("accuracy")])),
                ],
            )?);
        }
        Ok(results)
    }
}

/// One ML call, its arguments checked.
pub struct Call {
    function: String,
    model: String,
    input: String,
    label: Option<String>,
    options: BTreeMap<String, Expr>,
    /// True when the input is a window function: one version per window.
    windowed: bool,
    /// Rows to use instead of running `input` (one window's rows).
    given: Option<RecordBatch>,
}

impl Call {
    fn parse(function: &str, args: &[FunctionArg]) -> Result<Self> {
        let usage = || {
            Error::query(match function {
                "TRAIN_LINEAR" | "TRAIN_TREE" | "TRAIN_FOREST" => "TRAIN_LINEAR, TRAIN_TREE and TRAIN_FOREST are written TRAIN_...('model', TABLE t or (SELECT ...), 'label', option => value, ...)",
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
        let (input, windowed) = match positional.get(1) {
            Some(Expr::Subquery(query)) => (query.to_string(), false),
            Some(Expr::Function(f))
                if WINDOW_FUNCTIONS
                    .iter()
                    .any(|(_, ours)| f.name.to_string().eq_ignore_ascii_case(ours)) =>
            {
                (format!("SELECT * FROM {f}"), true)
            }
            _ => return Err(usage()),
        };
        let label = match function {
            "TRAIN_LINEAR" | "TRAIN_TREE" | "TRAIN_FOREST" => {
                Some(positional.get(2).and_then(text).ok_or_else(usage)?)
            }
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
            windowed,
            given: None,
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

    async fn input(&self, ctx: &SessionContext) -> Result<Rows> {
        if let Some(given) = &self.given {
            return Ok(Rows::from(given.clone()));
        }
        let frame = ctx.sql(&self.input).await?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        Ok(Rows {
            schema,
            batches: frame.collect().await?,
        })
    }

    /// The training rows: the input, which must have the label column and
    /// at least one row.
    async fn training_input(&self, ctx: &SessionContext, label: &str) -> Result<Rows> {
        let input = self.input(ctx).await?;
        if !input.has_column(label) {
            return Err(Error::query(format!(
                "label '{label}' is not a column of the input; it has: {}",
                input.column_names()
            )));
        }
        if input.num_rows() == 0 {
            return Err(Error::Data(format!(
                "{}('{}'): the training input has no rows",
                self.function, self.model
            )));
        }
        Ok(input)
    }

    async fn run(&self, ctx: &SessionContext, registry: &Registry) -> Result<RecordBatch> {
        match self.function.as_str() {
            "TRAIN_LINEAR" => self.train_linear(ctx, registry).await,
            "TRAIN_TREE" | "TRAIN_FOREST" => self.train_tree(ctx, registry).await,
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
        let selected = self.selected_features()?;
        let input = self.training_input(ctx, &label).await?;
        let features = fit_features(&input, &label, selected.as_deref(), handle)?;
        let encoded = encode(&input, &features, Some(&label), handle)?;
        if encoded.rows() == 0 {
            return Err(Error::Data(format!(
                "TRAIN_LINEAR('{}'): every row was skipped by handle_invalid",
                self.model
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
            name: self.model.clone(),
            version: 0,
            algorithm: "linear_regression".into(),
            task: "regression".into(),
            label,
            features,
            parameters,
            metrics: BTreeMap::from([("r2".to_string(), r2)]),
            rows: encoded.rows() as u64,
            skipped: encoded.skipped as u64,
            linear: Some(model),
            tree: None,
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
            Arc::new(StringArray::from(vec![self.model.clone()])),
            Arc::new(UInt64Array::from(vec![u64::from(version)])),
            Arc::new(StringArray::from(vec!["linear_regression"])),
            Arc::new(UInt64Array::from(vec![encoded.rows() as u64])),
            Arc::new(UInt64Array::from(vec![encoded.skipped as u64])),
            Arc::new(StringArray::from(vec![feature_names.join(", ")])),
            Arc::new(Float64Array::from(vec![r2])),
        ];
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// `features => ARRAY['a', 'b']`, if given.
    fn selected_features(&self) -> Result<Option<Vec<String>>> {
        let bad = || Error::query("features => ARRAY['a', 'b']: give column names as strings");
        match self.options.get("features") {
            None => Ok(None),
            Some(Expr::Array(array)) => array
                .elem
                .iter()
                .map(|e| match e {
                    Expr::Value(v) => match &v.value {
                        Value::SingleQuotedString(s) => Ok(s.clone()),
                        _ => Err(bad()),
                    },
                    _ => Err(bad()),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(_) => Err(bad()),
        }
    }

    fn number_option<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>> {
        self.option_text(name)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| Error::query(format!("{name} => {v}: give a whole number")))
            })
            .transpose()
    }

    async fn train_tree(&self, ctx: &SessionContext, registry: &Registry) -> Result<RecordBatch> {
        let forest = self.function == "TRAIN_FOREST";
        let mut known = vec![
            "features",
            "handle_invalid",
            "task",
            "max_depth",
            "min_samples_split",
            "min_samples_leaf",
            "seed",
        ];
        if forest {
            known.extend(["num_trees", "max_features"]);
        }
        self.check_options(&known)?;
        let label = self.label.clone().expect("training has a label");
        let handle =
            HandleInvalid::parse(&self.option_text("handle_invalid").unwrap_or("error".into()))?;
        let input = self.training_input(ctx, &label).await?;
        let label_column = input
            .column(&label)?
            .expect("training_input checked the label");
        let classification = match self.option_text("task").as_deref() {
            Some("classification") => true,
            Some("regression") => false,
            Some(other) => {
                return Err(Error::query(format!(
                    "task => '{other}': use 'classification' or 'regression'"
                )))
            }
            None => {
                !label_column.data_type().is_floating()
                    && !matches!(label_column.data_type(), DataType::Decimal128(..))
            }
        };
        let options = TreeOptions {
            max_depth: self.number_option("max_depth")?,
            min_samples_split: self.number_option("min_samples_split")?.unwrap_or(2),
            min_samples_leaf: self.number_option("min_samples_leaf")?.unwrap_or(1),
            num_trees: if forest {
                Some(self.number_option("num_trees")?.unwrap_or(100))
            } else {
                None
            },
            max_features: self.number_option("max_features")?,
            seed: self.number_option("seed")?.unwrap_or(0),
        };
        let features = fit_features(&input, &label, self.selected_features()?.as_deref(), handle)?;
        let mut encoded = encode(&input, &features, None, handle)?;
        let labels = label_values(&label_column)?;
        // Rows whose label is NULL: an error, or skipped like invalid features.
        let labelled: Vec<bool> = encoded.kept.iter().map(|r| labels[*r].is_some()).collect();
        if let Some(position) = labelled.iter().position(|l| !l) {
            if handle == HandleInvalid::Error {
                return Err(Error::Data(format!(
                    "row {}: label '{label}' is NULL; use handle_invalid => 'skip'",
                    encoded.kept[position] + 1
                )));
            }
            for column in &mut encoded.columns {
                *column = column
                    .iter()
                    .zip(&labelled)
                    .filter_map(|(v, l)| l.then_some(*v))
                    .collect();
            }
            encoded.skipped += labelled.iter().filter(|l| !**l).count();
            encoded.kept.retain(|r| labels[*r].is_some());
        }
        if encoded.rows() == 0 {
            return Err(Error::Data(format!(
                "{}('{}'): every row was skipped",
                self.function, self.model
            )));
        }
        let y_text: Vec<&String> = encoded
            .kept
            .iter()
            .filter_map(|r| labels[*r].as_ref())
            .collect();
        let (tree, classes, accuracy, r2) = if classification {
            let mut classes: Vec<String> = y_text.iter().map(|v| v.to_string()).collect();
            classes.sort();
            classes.dedup();
            let y: Vec<u32> = y_text
                .iter()
                .map(|v| classes.binary_search(v).unwrap_or(0) as u32)
                .collect();
            let tree = TreeModel::fit_classifier(&encoded.columns, &y, classes.len(), &options)?;
            let Predictions::Classes(predicted) = tree.predict(&encoded.columns, encoded.rows())
            else {
                return Err(Error::Internal("a classifier predicted numbers".into()));
            };
            let accuracy = predicted
                .iter()
                .zip(&y)
                .filter(|(p, a)| **p == i64::from(**a))
                .count() as f64
                / y.len() as f64;
            (tree, classes, Some(accuracy), None)
        } else {
            let y: Vec<f64> = y_text
                .iter()
                .map(|v| {
                    v.parse::<f64>().map_err(|_| {
                        Error::Data(format!(
                            "label '{label}': '{v}' is not a number; use task => 'classification'"
                        ))
                    })
                })
                .collect::<Result<_>>()?;
            let tree = TreeModel::fit_regressor(&encoded.columns, &y, &options)?;
            let Predictions::Values(predicted) = tree.predict(&encoded.columns, encoded.rows())
            else {
                return Err(Error::Internal("a regressor predicted classes".into()));
            };
            (tree, vec![], None, Some(r_squared(&y, &predicted)))
        };
        let algorithm = if forest {
            "random_forest"
        } else {
            "decision_tree"
        };
        let task = if classification {
            "classification"
        } else {
            "regression"
        };
        let mut parameters = BTreeMap::new();
        for name in &known[2..] {
            if let Some(value) = self.option_text(name) {
                parameters.insert(name.to_string(), value);
            }
        }
        let mut metrics = BTreeMap::new();
        if let Some(a) = accuracy {
            metrics.insert("accuracy".to_string(), a);
        }
        if let Some(r) = r2 {
            metrics.insert("r2".to_string(), r);
        }
        let feature_names: Vec<String> = features.iter().map(|f| f.name.clone()).collect();
        let rows = encoded.rows() as u64;
        let version = registry.save(ModelFile {
            format_version: 0,
            name: self.model.clone(),
            version: 0,
            algorithm: algorithm.into(),
            task: task.into(),
            label,
            features,
            parameters,
            metrics,
            rows,
            skipped: encoded.skipped as u64,
            linear: None,
            tree: Some(tree),
            classes,
        })?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("model", DataType::Utf8, false),
            Field::new("version", DataType::UInt64, false),
            Field::new("algorithm", DataType::Utf8, false),
            Field::new("task", DataType::Utf8, false),
            Field::new("rows", DataType::UInt64, false),
            Field::new("features", DataType::Utf8, false),
            Field::new("accuracy", DataType::Float64, true),
            Field::new("r2", DataType::Float64, true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![self.model.clone()])),
            Arc::new(UInt64Array::from(vec![u64::from(version)])),
            Arc::new(StringArray::from(vec![algorithm])),
            Arc::new(StringArray::from(vec![task])),
            Arc::new(UInt64Array::from(vec![rows])),
            Arc::new(StringArray::from(vec![feature_names.join(", ")])),
            Arc::new(Float64Array::from(vec![accuracy])),
            Arc::new(Float64Array::from(vec![r2])),
        ];
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    async fn evaluate(&self, ctx: &SessionContext, registry: &Registry) -> Result<RecordBatch> {
        self.check_options(&[])?;
        let model = registry.latest(&self.model)?;
        let input = self.input(ctx).await?;
        if model.task == "classification" {
            return self.evaluate_classifier(&model, &input);
        }
        let encoded = encode(
            &input,
            &model.features,
            Some(&model.label),
            HandleInvalid::Skip,
        )?;
        if encoded.rows() == 0 {
            return Err(Error::Data(format!(
                "EVALUATE('{}'): the input has no rows with a label and features",
                self.model
            )));
        }
        let Predictions::Values(predicted) = model.predict(&encoded)? else {
            return Err(Error::Internal("regression model predicted classes".into()));
        };
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

impl Call {
    fn evaluate_classifier(&self, model: &ModelFile, input: &Rows) -> Result<RecordBatch> {
        let label = input.column(&model.label)?.ok_or_else(|| {
            Error::query(format!(
                "EVALUATE needs the label column '{}' in its input",
                model.label
            ))
        })?;
        let labels = label_values(&label)?;
        let encoded = encode(input, &model.features, None, HandleInvalid::Skip)?;
        let Predictions::Classes(predicted) = model.predict(&encoded)? else {
            return Err(Error::Internal("a classifier predicted numbers".into()));
        };
        let mut pairs = Vec::new();
        for (row, p) in encoded.kept.iter().zip(predicted) {
            if let Some(actual) = &labels[*row] {
                let actual = model
                    .classes
                    .iter()
                    .position(|c| c == actual)
                    .map_or(-1, |i| i as i64);
                pairs.push((actual, p));
            }
        }
        if pairs.is_empty() {
            return Err(Error::Data(format!(
                "EVALUATE('{}'): no labelled rows",
                self.model
            )));
        }
        let metrics = classification_metrics(&pairs);
        let schema = Arc::new(Schema::new(vec![
            Field::new("rows", DataType::UInt64, false),
            Field::new("accuracy", DataType::Float64, false),
            Field::new("precision", DataType::Float64, false),
            Field::new("recall", DataType::Float64, false),
            Field::new("f1", DataType::Float64, false),
        ]));
        Ok(RecordBatch::try_new(
            schema,
            vec![
                Arc::new(UInt64Array::from(vec![pairs.len() as u64])),
                Arc::new(Float64Array::from(vec![metrics[0]])),
                Arc::new(Float64Array::from(vec![metrics[1]])),
                Arc::new(Float64Array::from(vec![metrics[2]])),
                Arc::new(Float64Array::from(vec![metrics[3]])),
            ],
        )?)
    }
}

/// Accuracy and macro precision, recall and F1 (over the classes seen in
/// the actual or predicted labels, as scikit-learn averages them).
fn classification_metrics(pairs: &[(i64, i64)]) -> [f64; 4] {
    let accuracy = pairs.iter().filter(|(a, p)| a == p).count() as f64 / pairs.len() as f64;
    let mut classes: Vec<i64> = pairs.iter().flat_map(|(a, p)| [*a, *p]).collect();
    classes.sort_unstable();
    classes.dedup();
    let (mut precision, mut recall, mut f1) = (0.0, 0.0, 0.0);
    for class in &classes {
        let tp = pairs
            .iter()
            .filter(|(a, p)| a == class && p == class)
            .count() as f64;
        let fp = pairs
            .iter()
            .filter(|(a, p)| a != class && p == class)
            .count() as f64;
        let fn_ = pairs
            .iter()
            .filter(|(a, p)| a == class && p != class)
            .count() as f64;
        let p = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        let r = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
        precision += p;
        recall += r;
        f1 += if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
    }
    let n = classes.len() as f64;
    [accuracy, precision / n, recall / n, f1 / n]
}

/// A label column's values as text (NULL as `None`).
fn label_values(column: &ArrayRef) -> Result<Vec<Option<String>>> {
    use datafusion::arrow::array::AsArray;
    let text = datafusion::arrow::compute::cast(column, &DataType::Utf8)?;
    Ok(text
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(String::from))
        .collect())
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
