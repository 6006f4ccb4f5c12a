//! One ML call in `FROM`, its arguments checked: which function, the
//! model, its input (a query, a window function's rows, or rows given),
//! the label and the `name => value` options.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArgOperator, Value,
};

use crate::error::{Error, Result};
use crate::ml::rows::Rows;
use crate::sql::window_tvf::WINDOW_FUNCTIONS;

/// The ML table functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlFunction {
    /// `TRAIN_LINEAR`: least squares.
    TrainLinear,
    /// `TRAIN_TREE`: one decision tree.
    TrainTree,
    /// `TRAIN_FOREST`: a random forest.
    TrainForest,
    /// `TRAIN_GBT`: gradient-boosted trees.
    TrainGbt,
    /// `TRAIN_LOGISTIC`: logistic regression.
    TrainLogistic,
    /// `TRAIN_KMEANS`: k-means clusters (no label).
    TrainKMeans,
    /// `PREDICT`: a model's predictions, per row.
    Predict,
    /// `EVALUATE`: a model's metrics on labelled rows.
    Evaluate,
}

impl MlFunction {
    /// Every one, in the order messages list them.
    pub const ALL: [MlFunction; 8] = [
        MlFunction::TrainLinear,
        MlFunction::TrainLogistic,
        MlFunction::TrainTree,
        MlFunction::TrainForest,
        MlFunction::TrainGbt,
        MlFunction::TrainKMeans,
        MlFunction::Predict,
        MlFunction::Evaluate,
    ];

    /// As SQL names it.
    pub fn name(self) -> &'static str {
        match self {
            MlFunction::TrainLinear => "TRAIN_LINEAR",
            MlFunction::TrainTree => "TRAIN_TREE",
            MlFunction::TrainForest => "TRAIN_FOREST",
            MlFunction::TrainGbt => "TRAIN_GBT",
            MlFunction::TrainLogistic => "TRAIN_LOGISTIC",
            MlFunction::TrainKMeans => "TRAIN_KMEANS",
            MlFunction::Predict => "PREDICT",
            MlFunction::Evaluate => "EVALUATE",
        }
    }

    /// The function `name` (upper case) names, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// True for the training functions.
    pub fn trains(self) -> bool {
        !matches!(self, MlFunction::Predict | MlFunction::Evaluate)
    }

    /// True for the training functions that take a label (all but k-means).
    pub fn takes_label(self) -> bool {
        self.trains() && self != MlFunction::TrainKMeans
    }
}

/// What a call reads.
#[derive(Debug, Clone)]
pub enum Input {
    /// A query's rows: `TABLE t` or `(SELECT ...)`.
    Query(String),
    /// A window function's rows (`SELECT * FROM TUMBLE(...)`): training
    /// runs per window.
    Window(String),
    /// Rows given, one window's (per-window training).
    Rows(RecordBatch),
}

/// One ML call, its arguments checked.
#[derive(Debug, Clone)]
pub struct Call {
    /// Which function.
    pub function: MlFunction,
    /// The model's name.
    pub model: String,
    /// What it reads.
    pub input: Input,
    /// The label column, for training.
    pub label: Option<String>,
    options: BTreeMap<String, Expr>,
}

impl Call {
    /// The call of `function` with `args`, checked.
    pub fn parse(function: MlFunction, args: &[FunctionArg]) -> Result<Self> {
        let usage = || {
            Error::query(match function {
                MlFunction::TrainKMeans => "TRAIN_KMEANS is written TRAIN_KMEANS('model', TABLE t or (SELECT ...), k => 5, option => value, ...)",
                _ if function.trains() => "TRAIN_LINEAR, TRAIN_LOGISTIC, TRAIN_TREE and TRAIN_FOREST are written TRAIN_...('model', TABLE t or (SELECT ...), 'label', option => value, ...)",
                MlFunction::Predict => "PREDICT is written PREDICT('model', TABLE t or (SELECT ...))",
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
            Some(Expr::Subquery(query)) => Input::Query(query.to_string()),
            Some(Expr::Function(f))
                if WINDOW_FUNCTIONS
                    .iter()
                    .any(|(_, ours)| f.name.to_string().eq_ignore_ascii_case(ours)) =>
            {
                Input::Window(format!("SELECT * FROM {f}"))
            }
            _ => return Err(usage()),
        };
        let label = match function.takes_label() {
            true => Some(positional.get(2).and_then(text).ok_or_else(usage)?),
            false => None,
        };
        let expected = if label.is_some() { 3 } else { 2 };
        if positional.len() != expected {
            return Err(usage());
        }
        Ok(Call {
            function,
            model,
            input,
            label,
            options,
        })
    }

    pub(super) fn option_text(&self, name: &str) -> Option<String> {
        self.options.get(name).map(|e| match e {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            other => other.to_string(),
        })
    }

    pub(super) fn check_options(&self, known: &[&str]) -> Result<()> {
        for name in self.options.keys() {
            if !known.contains(&name.as_str()) {
                return Err(Error::query(format!(
                    "{} has no option '{name}'; it takes: {}",
                    self.function.name(),
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

    /// The input's rows: the query run, or the rows given.
    pub(super) async fn input(&self, ctx: &SessionContext) -> Result<Rows> {
        let sql = match &self.input {
            Input::Rows(rows) => return Ok(Rows::from(rows.clone())),
            Input::Query(sql) | Input::Window(sql) => sql,
        };
        let frame = ctx.sql(sql).await?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        Ok(Rows {
            schema,
            batches: frame.collect().await?,
        })
    }

    /// The training rows: the input, which must have the label column and
    /// at least one row.
    pub(super) async fn training_input(&self, ctx: &SessionContext, label: &str) -> Result<Rows> {
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
                self.function.name(),
                self.model
            )));
        }
        Ok(input)
    }

    /// `features => ARRAY['a', 'b']`, if given.
    pub(super) fn selected_features(&self) -> Result<Option<Vec<String>>> {
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

    pub(super) fn number_option<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>> {
        self.option_text(name)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| Error::query(format!("{name} => {v}: give a whole number")))
            })
            .transpose()
    }

    /// A real-valued option, if given.
    pub(super) fn real_option(&self, name: &str) -> Result<Option<f64>> {
        self.option_text(name)
            .map(|v| {
                v.parse::<f64>()
                    .map_err(|_| Error::query(format!("{name} => {v}: give a number")))
            })
            .transpose()
    }

    /// The same call with its input query preceded by `WITH <ctes>`: the
    /// CTEs of the queries around the call, which its input may name.
    pub(super) fn with_ctes(mut self, ctes: &[String]) -> Call {
        if let (Input::Query(sql), false) = (&self.input, ctes.is_empty()) {
            self.input = Input::Query(format!("WITH {} {sql}", ctes.join(", ")));
        }
        self
    }

    /// The same call over `rows` (one window's) instead of its input.
    pub(super) fn with_rows(&self, rows: RecordBatch) -> Call {
        Call {
            input: Input::Rows(rows),
            ..self.clone()
        }
    }
}
