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
//!
//! One file per function: `train_linear.rs`, `train_logistic.rs`,
//! `train_tree.rs` (trees and forests), `train_gbt.rs`, `train_kmeans.rs`, `evaluate.rs`,
//! `per_window.rs` (training per window); PREDICT is [`super::predict`].
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
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{SetExpr, Statement, TableFactor};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

pub use call::{Call, Input, MlFunction};

use super::registry::Registry;
use crate::error::{from_parser_error, Error, Result};

static TEMPORARY: AtomicU64 = AtomicU64::new(0);

/// Rewrites `TABLE name` arguments of ML calls into `(SELECT * FROM name)`.
pub fn rewrite_table_arguments(sql: &str) -> String {
    let upper = sql.to_ascii_uppercase();
    if !MlFunction::ALL.iter().any(|f| upper.contains(f.name())) {
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
        if depth == 0 && MlFunction::ALL.iter().any(|f| is_word(token, f.name())) {
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
            let Some(function) = MlFunction::parse(&name.to_string().to_ascii_uppercase()) else {
                continue;
            };
            let call = Call::parse(function, &args.args)?;
            let alias = alias.as_ref().map_or_else(
                || function.name().to_ascii_lowercase(),
                |a| a.name.to_string(),
            );
            let source = if function == MlFunction::Predict {
                // A projection of the input: runs per batch, also on streams.
                call.check_options(&[])?;
                let model = registry.current(&call.model)?;
                let sql = call.input_sql();
                let input = ctx.state().create_logical_plan(sql).await?;
                let columns: Vec<String> = input
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
                super::predict::table_form(&call.model, &model, sql, &columns)?
            } else if matches!(call.input, Input::Window(_)) {
                let function = function.name();
                return Err(Error::query(format!(
                    "{function} over a window function: only training runs per window \
                     (SELECT * FROM TRAIN_...(...)); give {function} a table or a query"
                )));
            } else {
                let batch = run(&call, ctx, registry).await?;
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
