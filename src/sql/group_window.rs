//! Flink's group-window functions, rewritten into window table functions.
//!
//! ```sql
//! SELECT auction, TUMBLE_START(ts, INTERVAL '1' MINUTE) AS ws, SUM(price)
//! FROM bids GROUP BY auction, TUMBLE(ts, INTERVAL '1' MINUTE)
//! ```
//!
//! is the same query as a GROUP BY over `TUMBLE(TABLE bids, DESCRIPTOR(ts),
//! INTERVAL '1' MINUTE)`: the window call in GROUP BY becomes
//! `window_start, window_end`, the table in FROM becomes the window function
//! over it (keeping its name as the alias, so qualified columns still
//! resolve), and `TUMBLE_START` / `TUMBLE_END` / `TUMBLE_ROWTIME` (and HOP_*,
//! SESSION_*) become `window_start` / `window_end` / `window_time`. A SESSION
//! group window is per key of the other GROUP BY columns.

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    Ident, Query, Select, SetExpr, Statement, TableFactor,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::error::{from_parser_error, Error, Result};
use crate::sql::window_tvf::WINDOW_FUNCTIONS;

/// Rewrites group windows in `statement` (a query, the query of an INSERT,
/// or EXPLAIN of one).
pub fn rewrite_group_windows(statement: &mut DFStatement) -> Result<()> {
    match statement {
        DFStatement::Statement(inner) => match inner.as_mut() {
            Statement::Query(query) => rewrite_query(query),
            Statement::Insert(insert) => match insert.source.as_mut() {
                Some(query) => rewrite_query(query),
                None => Ok(()),
            },
            _ => Ok(()),
        },
        DFStatement::Explain(explain) => rewrite_group_windows(&mut explain.statement),
        _ => Ok(()),
    }
}

fn rewrite_query(query: &mut Query) -> Result<()> {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Ok(());
    };
    let Some(group_window) = rewrite_select(select)? else {
        return Ok(());
    };
    // TUMBLE_START(...) and friends, wherever they appear (SELECT, HAVING,
    // ORDER BY): they must name the GROUP BY's window, whose bounds they
    // become.
    let flow = visit_expressions_mut(query, |expr: &mut Expr| {
        if let Expr::Function(function) = expr {
            let name = function.name.to_string().to_ascii_uppercase();
            let column = WINDOW_FUNCTIONS.iter().find_map(|(window, _)| {
                let suffix = name.strip_prefix(window)?.strip_prefix('_')?;
                let column = match suffix {
                    "START" => "window_start",
                    "END" => "window_end",
                    "ROWTIME" => "window_time",
                    _ => return None,
                };
                Some((*window, column))
            });
            if let Some((window, column)) = column {
                let args = comparable(&window_call_args(function).unwrap_or_default());
                if window != group_window.0 || args != group_window.1 {
                    return ControlFlow::Break(Error::query(format!(
                        "{expr} does not name the GROUP BY's window {}({}); write \
                         {}_{}({})",
                        group_window.0,
                        group_window.1.join(", "),
                        group_window.0,
                        name.rsplit('_').next().unwrap_or_default(),
                        group_window.1.join(", ")
                    )));
                }
                *expr = Expr::Identifier(Ident::new(column));
            }
        }
        ControlFlow::Continue(())
    });
    match flow {
        ControlFlow::Break(err) => Err(err),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Rewrites the GROUP BY window and the FROM table; the window (`TUMBLE`,
/// `HOP`, `SESSION`) and its arguments as written, or `None` when there is
/// no group window.
fn rewrite_select(select: &mut Select) -> Result<Option<(&'static str, Vec<String>)>> {
    let GroupByExpr::Expressions(group_by, _) = &mut select.group_by else {
        return Ok(None);
    };
    let Some((position, window, args)) = group_by
        .iter()
        .enumerate()
        .find_map(|(i, e)| window_call(e).map(|(w, a)| (i, w, a)))
    else {
        return Ok(None);
    };
    let written = comparable(&args);
    let usage = || {
        Error::query(format!(
            "the {window} group window is written {window}(time_column, {}) in GROUP BY, \
             over one table in FROM",
            if window == "HOP" {
                "slide, size"
            } else if window == "SESSION" {
                "gap"
            } else {
                "size"
            }
        ))
    };
    let Some(time_column) = args.first().and_then(column_name) else {
        return Err(usage());
    };
    let intervals: Vec<String> = args[1..].iter().map(ToString::to_string).collect();
    // SESSION windows are per key of the other GROUP BY columns.
    let keys: Vec<String> = if window == "SESSION" {
        group_by
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != position)
            .map(|(_, e)| match column_name(e) {
                Some(name) => Ok(format!(", '{}'", name.to_lowercase())),
                None => Err(Error::query(
                    "a SESSION group window needs its other GROUP BY entries to be plain columns",
                )),
            })
            .collect::<Result<_>>()?
    } else {
        vec![]
    };
    group_by.splice(
        position..=position,
        [
            Expr::Identifier(Ident::new("window_start")),
            Expr::Identifier(Ident::new("window_end")),
        ],
    );

    let [from] = select.from.as_mut_slice() else {
        return Err(usage());
    };
    if !from.joins.is_empty() {
        return Err(usage());
    }
    let TableFactor::Table {
        name,
        alias,
        args: None,
        ..
    } = &from.relation
    else {
        return Err(usage());
    };
    let alias = match alias {
        Some(alias) => alias.name.to_string(),
        None => name
            .0
            .last()
            .and_then(|part| part.as_ident())
            .map(ToString::to_string)
            .unwrap_or_default(),
    };
    let function = WINDOW_FUNCTIONS
        .iter()
        .find(|(flink, _)| *flink == window)
        .map(|(_, ours)| *ours)
        .expect("a known window");
    let table = name.to_string().replace('\'', "''");
    let sql = format!(
        "SELECT 1 FROM {function}('{table}', '{time_column}', {}{}) AS {alias}",
        intervals.join(", "),
        keys.concat()
    );
    let parsed = Parser::new(&GenericDialect {})
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_query())
        .map_err(from_parser_error)?;
    let SetExpr::Select(parsed) = *parsed.body else {
        return Err(Error::Internal("group window rewrite".into()));
    };
    from.relation = parsed.from[0].relation.clone();
    Ok(Some((window, written)))
}

/// The column `expr` names: `ts`, or `B.ts` (the table's alias is the
/// window's alias after the rewrite). `user` parses as a niladic function.
fn column_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(ident) => Some(ident.value.clone()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.clone()),
        other => {
            let name = other.to_string();
            name.chars()
                .all(|c| c.is_alphanumeric() || c == '_')
                .then_some(name)
        }
    }
}

/// `TUMBLE(...)`, `HOP(...)` or `SESSION(...)` with its arguments.
fn window_call(expr: &Expr) -> Option<(&'static str, Vec<Expr>)> {
    let Expr::Function(function) = expr else {
        return None;
    };
    let name = function.name.to_string().to_ascii_uppercase();
    let window = ["TUMBLE", "HOP", "SESSION"]
        .into_iter()
        .find(|w| *w == name)?;
    Some((window, window_call_args(function)?))
}

/// A window's arguments as text to compare: the time column by its name
/// (qualified or not, in any case), then the intervals as written.
fn comparable(args: &[Expr]) -> Vec<String> {
    args.iter()
        .enumerate()
        .map(|(i, arg)| match column_name(arg) {
            Some(name) if i == 0 => name.to_lowercase(),
            _ => arg.to_string(),
        })
        .collect()
}

/// The plain arguments of a call.
fn window_call_args(function: &datafusion::sql::sqlparser::ast::Function) -> Option<Vec<Expr>> {
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    list.args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParserBuilder;

    fn rewrite(sql: &str) -> String {
        let mut statement = DFParserBuilder::new(sql)
            .build()
            .unwrap()
            .parse_statement()
            .unwrap();
        rewrite_group_windows(&mut statement).unwrap();
        statement.to_string()
    }

    #[test]
    fn tumble_group_window_becomes_the_table_function() {
        assert_eq!(
            rewrite(
                "SELECT auction, TUMBLE_START(ts, INTERVAL '1' MINUTE) AS ws, SUM(price) \
                 FROM bids GROUP BY auction, TUMBLE(ts, INTERVAL '1' MINUTE)"
            ),
            "SELECT auction, window_start AS ws, SUM(price) FROM \
             tumble_window('bids', 'ts', INTERVAL '1' MINUTE) AS bids \
             GROUP BY auction, window_start, window_end"
        );
    }

    #[test]
    fn session_group_window_is_per_key() {
        assert_eq!(
            rewrite(
                "SELECT SESSION_END(ts, INTERVAL '5' SECOND), COUNT(*) FROM bids b \
                 GROUP BY SESSION(ts, INTERVAL '5' SECOND), auction"
            ),
            "SELECT window_end, COUNT(*) FROM \
             session_window('bids', 'ts', INTERVAL '5' SECOND, 'auction') AS b \
             GROUP BY window_start, window_end, auction"
        );
    }

    #[test]
    fn other_queries_are_unchanged() {
        let sql = "SELECT a, COUNT(*) FROM t GROUP BY a";
        assert_eq!(rewrite(sql), sql);
    }
}
