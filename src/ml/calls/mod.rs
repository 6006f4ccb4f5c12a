//! The ML table functions (`TRAIN_*`, `PREDICT`, `EVALUATE`, `ML_WEIGHTS`,
//! `ML_FEATURE_IMPORTANCE`), resolved by the engine before DataFusion plans
//! the query, wherever they are in it (FROM, joins, subqueries, CTEs, each
//! side of a UNION; in INSERT, CREATE TABLE AS, COPY and, PREDICT only,
//! CREATE VIEW).
//!
//! ```sql
//! SELECT * FROM TRAIN_LINEAR('price_model', TABLE houses, 'price', l2 => 0.1);
//! SELECT * FROM PREDICT('price_model', (SELECT sqft, rooms FROM new_houses));
//! SELECT * FROM EVALUATE('price_model', TABLE test_houses);
//! ```
//!
//! `TABLE name` is first rewritten to `(SELECT * FROM name)` so the call
//! parses. A training or EVALUATE call's input query is then run and the
//! call replaced by a temporary in-memory table holding its result (so are
//! the explanations, from the model file); a
//! PREDICT call is replaced by a projection of its input that calls the
//! PREDICT scalar function, so it streams. The rest of the query is
//! ordinary DataFusion SQL over them.
//!
//! One file per function: `train_linear.rs`, `train_logistic.rs`,
//! `train_tree.rs` (trees and forests), `train_gbt.rs`, `train_kmeans.rs`,
//! `evaluate.rs`, `per_window.rs` (training per window); PREDICT is
//! [`super::predict`], the explanations' rows [`super::describe`].
//! `call.rs` is a call's parsed arguments, `labels.rs` the label as
//! classifiers and regressors see it.

mod call;
mod evaluate;
mod labels;
mod per_window;
mod train_gbt;
mod train_kmeans;
mod train_linear;
mod train_logistic;
mod train_tree;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, Query, SetExpr, Statement, TableFactor, TableWithJoins,
    Value,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

pub use call::{Call, Input, MlFunction};

use super::registry::Registry;
use crate::error::{from_parser_error, Error, Result};
use crate::sql::window_tvf::WINDOW_FUNCTIONS;
use futures::future::BoxFuture;

static TEMPORARY: AtomicU64 = AtomicU64::new(0);

/// How the names of ML table functions begin: a misspelt one's `TABLE t`
/// is rewritten too, so that its error names the function.
const ML_PREFIXES: [&str; 2] = ["TRAIN_", "ML_"];

/// Rewrites `TABLE name` arguments of ML calls (and of calls named like
/// them) into `(SELECT * FROM name)`.
pub fn rewrite_table_arguments(sql: &str) -> String {
    let upper = sql.to_ascii_uppercase();
    if !MlFunction::ALL.iter().any(|f| upper.contains(f.name()))
        && !ML_PREFIXES.iter().any(|p| upper.contains(p))
    {
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
        let ml_name = match token {
            Token::Word(word) if word.quote_style.is_none() => {
                let upper = word.value.to_ascii_uppercase();
                MlFunction::parse(&upper).is_some()
                    || ML_PREFIXES.iter().any(|p| upper.starts_with(p))
            }
            _ => false,
        };
        if depth == 0 && ml_name {
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

/// The table functions that explain a model: `ML_WEIGHTS('m')` and
/// `ML_FEATURE_IMPORTANCE('m')`.
const EXPLANATIONS: [&str; 2] = ["ML_WEIGHTS", "ML_FEATURE_IMPORTANCE"];

/// Resolves the ML calls in `statement` (a query, the query of an INSERT,
/// CREATE TABLE AS, CREATE VIEW or COPY), wherever they are in it: in FROM,
/// joins, subqueries, CTEs and each side of UNION. Training, EVALUATE,
/// ML_WEIGHTS and ML_FEATURE_IMPORTANCE run now, their results registered
/// as temporary tables in `ctx` whose names are returned, to deregister
/// once the statement is planned; PREDICT becomes a projection of its
/// input (see [`super::predict::table_form`]). A table function flowsql
/// does not have is an error that lists the ones it has.
pub async fn resolve(
    ctx: &SessionContext,
    registry: &Registry,
    statement: &mut DFStatement,
) -> Result<Vec<String>> {
    let mut resolver = Resolver {
        ctx,
        registry,
        temporaries: Vec::new(),
        in_view: false,
        ctes: Vec::new(),
    };
    let query = match statement {
        DFStatement::Statement(inner) => match inner.as_mut() {
            Statement::Query(query) => Some(query.as_mut()),
            Statement::Insert(insert) => insert.source.as_deref_mut(),
            Statement::CreateTable(create) => create.query.as_deref_mut(),
            Statement::CreateView(view) => {
                resolver.in_view = true;
                Some(view.query.as_mut())
            }
            _ => None,
        },
        DFStatement::CopyTo(copy) => match &mut copy.source {
            CopyToSource::Query(query) => Some(query.as_mut()),
            CopyToSource::Relation(_) => None,
        },
        DFStatement::Explain(_) | DFStatement::CreateExternalTable(_) | DFStatement::Reset(_) => {
            None
        }
    };
    if let Some(query) = query {
        if let Err(e) = resolver.query(query).await {
            for temporary in &resolver.temporaries {
                ctx.deregister_table(temporary.as_str())?;
            }
            return Err(e);
        }
    }
    Ok(resolver.temporaries)
}

/// Walks a statement's queries, replacing ML calls.
struct Resolver<'a> {
    ctx: &'a SessionContext,
    registry: &'a Registry,
    temporaries: Vec<String>,
    /// The statement is CREATE VIEW: only PREDICT may be in it.
    in_view: bool,
    /// The CTEs in scope (`name AS (query)`), for the inputs of calls.
    ctes: Vec<String>,
}

impl Resolver<'_> {
    fn query<'q>(&'q mut self, query: &'q mut Query) -> BoxFuture<'q, Result<()>> {
        Box::pin(async move {
            // The CTEs are in scope for the calls in this query's body.
            let scope = self.ctes.len();
            let mut result = Ok(());
            if let Some(with) = &mut query.with {
                for cte in &mut with.cte_tables {
                    result = self.query(&mut cte.query).await;
                    if result.is_err() {
                        break;
                    }
                    self.ctes.push(cte.to_string());
                }
            }
            if result.is_ok() {
                result = self.set_expr(&mut query.body).await;
            }
            self.ctes.truncate(scope);
            result
        })
    }

    fn set_expr<'q>(&'q mut self, body: &'q mut SetExpr) -> BoxFuture<'q, Result<()>> {
        Box::pin(async move {
            match body {
                SetExpr::Select(select) => {
                    for from in &mut select.from {
                        self.table_with_joins(from).await?;
                    }
                    Ok(())
                }
                SetExpr::Query(query) => self.query(query).await,
                SetExpr::SetOperation { left, right, .. } => {
                    self.set_expr(left).await?;
                    self.set_expr(right).await
                }
                _ => Ok(()),
            }
        })
    }

    fn table_with_joins<'q>(
        &'q mut self,
        from: &'q mut TableWithJoins,
    ) -> BoxFuture<'q, Result<()>> {
        Box::pin(async move {
            self.relation(&mut from.relation).await?;
            for join in &mut from.joins {
                self.relation(&mut join.relation).await?;
            }
            Ok(())
        })
    }

    async fn relation(&mut self, relation: &mut TableFactor) -> Result<()> {
        let (name, args, alias) = match relation {
            TableFactor::Derived { subquery, .. } => return self.query(subquery).await,
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => return self.table_with_joins(table_with_joins).await,
            TableFactor::Table {
                name,
                args: Some(args),
                alias,
                ..
            } => (name.to_string(), args.args.clone(), alias.clone()),
            _ => return Ok(()),
        };
        let upper = name.to_ascii_uppercase();
        let alias = alias.map_or_else(|| upper.to_ascii_lowercase(), |a| a.name.to_string());
        let source = if let Some(function) = MlFunction::parse(&upper) {
            self.ml_call(function, &args).await?
        } else if EXPLANATIONS.contains(&upper.as_str()) {
            self.refuse_in_view(&upper)?;
            let model = match args.as_slice() {
                [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))] => match &v.value {
                    Value::SingleQuotedString(model) => Some(self.registry.current(model)?),
                    _ => None,
                },
                _ => None,
            }
            .ok_or_else(|| Error::query(format!("{upper} is written {upper}('model')")))?;
            let batch = if upper == EXPLANATIONS[0] {
                super::describe::weights_batch(&model)?
            } else {
                super::describe::importance_batch(&model)?
            };
            self.temporary(batch)?
        } else if self.ctx.table_function(&name.to_ascii_lowercase()).is_ok() {
            return Ok(());
        } else {
            return Err(Error::query(format!(
                "unknown table function '{name}'; flowsql has: {}",
                self.table_functions().join(", ")
            )));
        };
        let replacement = Parser::new(&GenericDialect {})
            .try_with_sql(&format!("SELECT * FROM {source} AS {alias}"))
            .and_then(|mut p| p.parse_query())
            .map_err(from_parser_error)?;
        if let SetExpr::Select(parsed) = *replacement.body {
            *relation = parsed.from[0].relation.clone();
        }
        Ok(())
    }

    /// The SQL that stands for one ML call: PREDICT's projection, or the
    /// temporary table holding a training or EVALUATE result.
    async fn ml_call(&mut self, function: MlFunction, args: &[FunctionArg]) -> Result<String> {
        let call = Call::parse(function, args)?;
        if function == MlFunction::Predict {
            // A projection of the input: runs per batch, also on streams.
            // Its input stays inside the query, where the CTEs are in
            // scope; only its columns are looked up with them spelt out.
            call.check_options(&[])?;
            let model = self.registry.current(&call.model)?;
            let sql = call.input_sql();
            let scoped = call.clone().with_ctes(&self.ctes);
            let input = self
                .ctx
                .state()
                .create_logical_plan(scoped.input_sql())
                .await?;
            let columns: Vec<String> = input
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            return super::predict::table_form(&call.model, &model, sql, &columns);
        }
        let call = call.with_ctes(&self.ctes);
        if matches!(call.input, Input::Window(_)) {
            let function = function.name();
            return Err(Error::query(format!(
                "{function} over a window function: only training runs per window \
                 (SELECT * FROM TRAIN_...(...)); give {function} a table or a query"
            )));
        }
        self.refuse_in_view(function.name())?;
        let batch = run(&call, self.ctx, self.registry).await?;
        self.temporary(batch)
    }

    /// A view is planned once and read many times: a call that runs once
    /// (training, EVALUATE, explanations) has no place in it.
    fn refuse_in_view(&self, function: &str) -> Result<()> {
        if self.in_view {
            return Err(Error::query(format!(
                "{function} runs once, when the statement runs, so a view cannot hold it \
                 (PREDICT can); keep its result with CREATE TABLE t AS SELECT * FROM {function}(...)"
            )));
        }
        Ok(())
    }

    /// Registers `batch` under a new temporary name; returns the name.
    fn temporary(&mut self, batch: RecordBatch) -> Result<String> {
        let temporary = format!("__flowsql_ml_{}", TEMPORARY.fetch_add(1, Ordering::Relaxed));
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        self.ctx
            .register_table(temporary.as_str(), Arc::new(table))?;
        self.temporaries.push(temporary.clone());
        Ok(temporary)
    }

    /// Every table function a query can call, as messages list them: the
    /// ML calls, the explanations, the window functions, then DataFusion's
    /// own (without the names window functions are rewritten to).
    fn table_functions(&self) -> Vec<String> {
        let mut names: Vec<String> = MlFunction::ALL
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        names.extend(EXPLANATIONS.iter().map(|n| n.to_string()));
        names.extend(WINDOW_FUNCTIONS.iter().map(|(shown, _)| shown.to_string()));
        let mut others: Vec<String> = self
            .ctx
            .state()
            .table_functions()
            .keys()
            .filter(|name| !WINDOW_FUNCTIONS.iter().any(|(_, ours)| ours == name))
            .cloned()
            .collect();
        others.sort();
        names.extend(others);
        names
    }
}

/// Runs a training or EVALUATE call: its one result row.
async fn run(call: &Call, ctx: &SessionContext, registry: &Registry) -> Result<RecordBatch> {
    match call.function {
        MlFunction::TrainLinear => train_linear::train(call, ctx, registry).await,
        MlFunction::TrainLogistic => train_logistic::train(call, ctx, registry).await,
        MlFunction::TrainKMeans => train_kmeans::train(call, ctx, registry).await,
        MlFunction::TrainGbt => train_gbt::train(call, ctx, registry).await,
        MlFunction::TrainTree | MlFunction::TrainForest => {
            train_tree::train(call, ctx, registry).await
        }
        MlFunction::Evaluate => evaluate::evaluate(call, ctx, registry).await,
        MlFunction::Predict => Err(Error::Internal(
            "PREDICT is a projection of its input, not run".into(),
        )),
    }
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
    let Some(function) =
        MlFunction::parse(&name.to_string().to_ascii_uppercase()).filter(|f| f.trains())
    else {
        return Ok(None);
    };
    let call = Call::parse(function, &args.args)?;
    if !matches!(call.input, Input::Window(_)) {
        return Ok(None);
    }
    let function = function.name();
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
