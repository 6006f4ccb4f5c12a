//! What cannot run on a stream, refused before anything runs, each with a
//! message saying what to write instead.

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Expr, LogicalPlan, Operator};

use super::scans::{stream_scans, StreamScan};
use crate::error::{Error, Result};
use crate::window::WINDOW_COLUMNS;

/// Refuses subqueries (IN, EXISTS, scalar) that read a stream: the planner
/// runs a query's own scans of its stream, and a subquery's would be left
/// to DataFusion, which cannot read a stream. In a query over windows
/// (`over_windows`), a subquery over a window correlated on window_start
/// and window_end is a window semi or anti join (IN, EXISTS, NOT IN, NOT
/// EXISTS), run within each window like any window join.
pub(super) fn check_no_stream_subqueries(plan: &LogicalPlan, over_windows: bool) -> Result<()> {
    let mut found = false;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::Subquery(subquery) = node {
            let scans = stream_scans(&subquery.subquery)?;
            let windowed = scans.iter().all(|s| matches!(s, StreamScan::Windowed(..)));
            if scans.is_empty()
                || (over_windows && windowed && within_window(plan, &subquery.subquery)?)
            {
                return Ok(TreeNodeRecursion::Continue);
            }
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    if found {
        return Err(Error::query(
            "subqueries over a stream (IN, EXISTS, scalar subqueries) are supported over \
             windows, correlated on the window: WHERE a.window_start = b.window_start AND \
             a.window_end = b.window_end; or join within the window instead: JOIN ... ON \
             a.window_start = b.window_start AND a.window_end = b.window_end",
        ));
    }
    Ok(())
}

/// True when `subquery` (of `plan`) equates the outer query's window_start
/// and window_end with its own.
fn within_window(plan: &LogicalPlan, subquery: &LogicalPlan) -> Result<bool> {
    let mut starts = names_of(plan, WINDOW_COLUMNS[0])?;
    starts.extend(names_of(subquery, WINDOW_COLUMNS[0])?);
    let mut ends = names_of(plan, WINDOW_COLUMNS[1])?;
    ends.extend(names_of(subquery, WINDOW_COLUMNS[1])?);
    let (mut start, mut end) = (false, false);
    subquery.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::BinaryExpr(b) = e {
                    let names = match (b.left.as_ref(), b.right.as_ref()) {
                        (Expr::OuterReferenceColumn(_, outer), Expr::Column(inner))
                        | (Expr::Column(inner), Expr::OuterReferenceColumn(_, outer))
                            if b.op == Operator::Eq =>
                        {
                            Some((&outer.name, &inner.name))
                        }
                        _ => None,
                    };
                    if let Some((outer, inner)) = names {
                        start |= starts.contains(outer) && starts.contains(inner);
                        end |= ends.contains(outer) && ends.contains(inner);
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    Ok(start && end)
}

/// Functions DataFusion evaluates once, when a query is planned.
const QUERY_TIME_FUNCTIONS: &[&str] = &[
    "now",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtimestamp",
];

/// Refuses `now()` and its kin over a stream: DataFusion folds them into a
/// constant when the query is planned, so in a query that runs for hours
/// they would silently keep the start time.
pub(super) fn check_no_query_time(plan: &LogicalPlan) -> Result<()> {
    let mut found: Option<String> = None;
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::ScalarFunction(f) = e {
                    if QUERY_TIME_FUNCTIONS.contains(&f.name()) {
                        found = Some(f.name().to_string());
                        return Ok(TreeNodeRecursion::Stop);
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    match found {
        Some(name) => Err(Error::query(format!(
            "{name}() in a query over a stream would be fixed at the moment the query \
             starts, not the time each row is processed; use the rows' event time (or \
             window_start / window_end) instead"
        ))),
        None => Ok(()),
    }
}

/// Refuses what cannot run on a stream, saying what to do instead.
pub(super) fn check_supported(plan: &LogicalPlan, scan: &StreamScan) -> Result<()> {
    let starts = names_of(plan, WINDOW_COLUMNS[0])?;
    let ends = names_of(plan, WINDOW_COLUMNS[1])?;
    let mut problem: Option<Error> = None;
    plan.apply(|node| {
        let found = match (node, scan) {
            // A join with a bounded table is a lookup; two streams are
            // joined within a window.
            (LogicalPlan::Join(join), StreamScan::Direct(_))
                if !(stream_scans(&join.left)?.is_empty()
                    || stream_scans(&join.right)?.is_empty()) =>
            {
                Some(
                    "joins of two unbounded streams are not supported yet; join within a \
                     window instead: both sides over TABLE(TUMBLE(...)) (or HOP, CUMULATE), \
                     joined on window_start and window_end",
                )
            }
            (LogicalPlan::Distinct(_), StreamScan::Direct(_)) => Some(
                "SELECT DISTINCT and UNION over a stream are supported as the query's \
                 outermost operation (DISTINCT ON not yet); move them out of the subquery",
            ),
            // Window Top-N and deduplication: ranked within each window,
            // over the window's rows (or aggregates) when it closes.
            (LogicalPlan::Window(window), StreamScan::Windowed(..))
                if per_window(&window.window_expr, &starts, &ends) =>
            {
                None
            }
            (LogicalPlan::Window(_), StreamScan::Windowed(..)) => Some(
                "OVER (...) over a window table function must be PARTITION BY window_start, \
                 window_end (and any keys), so each window is ranked once, when it closes \
                 (window Top-N, window deduplication)",
            ),
            (LogicalPlan::Window(_), _) => Some(
                "OVER (...) window functions are not supported on streams yet; \
                 use a window table function such as TUMBLE(...) with GROUP BY",
            ),
            (LogicalPlan::Aggregate(_), StreamScan::Direct(_)) => Some(
                "an unbounded GROUP BY needs a window: group by window_start, window_end of \
                 TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) (or HOP, CUMULATE, SESSION)",
            ),
            (LogicalPlan::Sort(_) | LogicalPlan::Limit(_), StreamScan::Direct(_)) => Some(
                "ORDER BY and LIMIT on an unbounded stream never finish; \
                 use them over a window function, where they apply to each emission",
            ),
            (LogicalPlan::Aggregate(aggregate), StreamScan::Windowed(..)) => {
                let grouped = |names: &[String]| {
                    aggregate
                        .group_expr
                        .iter()
                        .any(|e| matches!(e, Expr::Column(c) if names.contains(&c.name)))
                };
                if grouped(&starts) && grouped(&ends) {
                    None
                } else {
                    Some(
                        "a GROUP BY over a window function must include window_start and \
                         window_end, so that each window is computed once when it closes",
                    )
                }
            }
            _ => None,
        };
        if let Some(message) = found {
            problem = Some(Error::query(message));
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    problem.map_or(Ok(()), Err)
}

/// Refuses a join of two windowed inputs that does not equate their
/// `window_start` and `window_end`: each emission holds every window that
/// closed, so only a join within the window gives Flink's window join.
pub(super) fn check_window_joins(plan: &LogicalPlan) -> Result<()> {
    let starts = names_of(plan, WINDOW_COLUMNS[0])?;
    let ends = names_of(plan, WINDOW_COLUMNS[1])?;
    let windowed = |input: &LogicalPlan| -> Result<bool> {
        let scans = stream_scans(input)?;
        Ok(scans.iter().any(|s| matches!(s, StreamScan::Windowed(..))))
    };
    let mut refused = false;
    plan.apply(|node| {
        let LogicalPlan::Join(join) = node else {
            return Ok(TreeNodeRecursion::Continue);
        };
        if !(windowed(&join.left)? && windowed(&join.right)?) {
            return Ok(TreeNodeRecursion::Continue);
        }
        let mut pairs: Vec<(&Expr, &Expr)> = join.on.iter().map(|(l, r)| (l, r)).collect();
        if let Some(filter) = &join.filter {
            for conjunct in split_conjunction(filter) {
                if let Expr::BinaryExpr(b) = conjunct {
                    if b.op == Operator::Eq {
                        pairs.push((b.left.as_ref(), b.right.as_ref()));
                    }
                }
            }
        }
        let equates = |names: &[String]| {
            pairs.iter().any(|(l, r)| {
                matches!((l, r), (Expr::Column(a), Expr::Column(b))
                    if names.contains(&a.name) && names.contains(&b.name))
            })
        };
        refused = !(equates(&starts) && equates(&ends));
        Ok(if refused {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    if refused {
        return Err(Error::query(
            "a join of two windowed inputs must be a window join: ON a.window_start = \
             b.window_start AND a.window_end = b.window_end (besides any keys), so that \
             each window is joined once, when it closes",
        ));
    }
    Ok(())
}

/// True when every window function of `exprs` partitions by the window
/// (by `window_start` and `window_end`, under any of their names).
fn per_window(exprs: &[Expr], starts: &[String], ends: &[String]) -> bool {
    exprs.iter().all(|expr| {
        let Expr::WindowFunction(function) = expr.clone().unalias_nested().data else {
            return false;
        };
        let partitioned_by = |names: &[String]| {
            function
                .params
                .partition_by
                .iter()
                .any(|e| matches!(e, Expr::Column(c) if names.contains(&c.name)))
        };
        partitioned_by(starts) && partitioned_by(ends)
    })
}

/// `column` and the names it is renamed to anywhere in `plan`
/// (`window_start AS starttime`).
fn names_of(plan: &LogicalPlan, column: &str) -> Result<Vec<String>> {
    let mut names = vec![column.to_string()];
    loop {
        let before = names.len();
        plan.apply(|node| {
            if let LogicalPlan::Projection(projection) = node {
                for expr in &projection.expr {
                    if let Expr::Alias(alias) = expr {
                        if matches!(alias.expr.as_ref(), Expr::Column(c) if names.contains(&c.name))
                            && !names.contains(&alias.name)
                        {
                            names.push(alias.name.clone());
                        }
                    }
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        if names.len() == before {
            return Ok(names);
        }
    }
}
