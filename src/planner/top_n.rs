//! Top-N and deduplication over a stream without a window, lowered to their
//! operator: `ROW_NUMBER()`, `RANK()` or `DENSE_RANK() OVER (PARTITION BY
//! ... ORDER BY ...)` and the filter on the rank above it (`WHERE rn <= N`),
//! which the operator applies itself, as Flink's Rank does.
//!
//! ```text
//! Filter: rn <= 3 AND price > 0        Filter: price > 0
//!   Projection: ..., row_number() AS rn  ─▶  Projection: ..., row_number() AS rn
//!     Window: row_number() OVER (...)          stand-in (the Top-N operator's rows)
//! ```

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    BinaryExpr, Expr, Filter, LogicalPlan, Operator, Window, WindowFunctionDefinition,
};
use datafusion::physical_expr::PhysicalSortExpr;
use datafusion::prelude::SessionContext;

use crate::changelog::ChangelogMode;
use crate::error::{Error, Result};
use crate::operators::emission::EmissionPlan;
use crate::operators::top_n::{RankFunction, TopN};

/// An `OVER` node ranking a stream, with the filter on its rank.
pub(super) struct RankedWindow {
    /// The OVER node.
    pub window: Window,
    /// The ranking function.
    pub function: WindowFunction,
    /// Which one it is.
    pub kind: RankFunction,
    /// The filter on the rank, as written.
    pub filter: LogicalPlan,
    /// That filter without its conditions on the rank (its input when it
    /// had no others).
    pub remaining: LogicalPlan,
    /// The ranks kept (`rn <= 3`: 1..=3).
    pub ranks: (u64, u64),
}

/// `window` (in `plan`) as a Top-N, or an error saying why it cannot run
/// on a stream.
pub(super) fn ranked_window(plan: &LogicalPlan, window: &Window) -> Result<RankedWindow> {
    let [expr] = window.window_expr.as_slice() else {
        return Err(Error::query(
            "several OVER (...) functions in one SELECT over a stream are not supported; \
             rank with one ROW_NUMBER(), RANK() or DENSE_RANK()",
        ));
    };
    let Expr::WindowFunction(function) = expr.clone().unalias_nested().data else {
        return Err(Error::Internal(
            "an OVER node without a window function".into(),
        ));
    };
    let function = *function;
    let kind = match &function.fun {
        WindowFunctionDefinition::WindowUDF(udf) => RankFunction::of(udf.name()),
        WindowFunctionDefinition::AggregateUDF(_) => {
            return Err(Error::query(
                "OVER aggregates (ROWS / RANGE BETWEEN ... PRECEDING) over an unbounded \
                 stream are not supported yet; aggregate per window with a window table \
                 function such as TUMBLE(...) and GROUP BY window_start, window_end",
            ))
        }
    };
    let Some(kind) = kind else {
        return Err(Error::query(format!(
            "{}() OVER (...) is not supported on an unbounded stream; only ROW_NUMBER(), \
             RANK() and DENSE_RANK() filtered on the rank (WHERE rn <= N: a Top-N)",
            function.fun.name()
        )));
    };
    if function.params.order_by.is_empty() {
        return Err(Error::query(format!(
            "{} over a stream needs an ORDER BY in its OVER (...): the order of a \
             stream's rows is not defined otherwise",
            kind.sql()
        )));
    }
    let rank_name = window
        .schema
        .field(window.input.schema().fields().len())
        .name()
        .clone();
    let missing = || {
        Error::query(format!(
            "{} OVER (...) over a stream must be filtered on the rank in the query \
             right above it (SELECT ... FROM (SELECT ..., {} OVER (...) AS rn FROM t) \
             WHERE rn <= N): a Top-N; an unfiltered rank would renumber every row",
            kind.sql(),
            kind.sql()
        ))
    };
    let (filter, names) = filter_over(plan, window, &rank_name)?.ok_or_else(missing)?;
    let LogicalPlan::Filter(Filter {
        predicate, input, ..
    }) = &filter
    else {
        return Err(Error::Internal("not a filter".into()));
    };
    let mut low: i64 = 1;
    let mut high: Option<i64> = None;
    let mut others = Vec::new();
    for conjunct in split_conjunction(predicate) {
        match rank_bound(conjunct, &names) {
            Some((lo, hi)) => {
                low = low.max(lo.unwrap_or(1));
                high = match (high, hi) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            None => others.push(conjunct.clone()),
        }
    }
    let high = high.ok_or_else(missing)?;
    if high < low || high < 1 {
        return Err(Error::query(format!(
            "the filter on {} keeps no rank (from {low} to {high}); write WHERE rn <= N \
             with N >= 1",
            kind.sql()
        )));
    }
    let remaining = match conjunction(others) {
        Some(predicate) => LogicalPlan::Filter(Filter::try_new(predicate, Arc::clone(input))?),
        None => input.as_ref().clone(),
    };
    Ok(RankedWindow {
        window: window.clone(),
        function,
        kind,
        filter,
        remaining,
        ranks: (low.max(1) as u64, high as u64),
    })
}

/// The filter right above `window` (through projections and aliases) that
/// reads its rank column, and the names that column has there.
fn filter_over(
    plan: &LogicalPlan,
    window: &Window,
    rank_name: &str,
) -> Result<Option<(LogicalPlan, Vec<String>)>> {
    let mut found = None;
    plan.apply(|node| {
        let LogicalPlan::Filter(filter) = node else {
            return Ok(TreeNodeRecursion::Continue);
        };
        // Down to the window through projections, renaming on the way.
        let mut path = Vec::new();
        let mut below = filter.input.as_ref();
        loop {
            match below {
                LogicalPlan::Projection(p) => {
                    path.push(p);
                    below = p.input.as_ref();
                }
                LogicalPlan::SubqueryAlias(a) => below = a.input.as_ref(),
                _ => break,
            }
        }
        if !matches!(below, LogicalPlan::Window(w) if w == window) {
            return Ok(TreeNodeRecursion::Continue);
        }
        let mut names = vec![rank_name.to_string()];
        for projection in path.iter().rev() {
            for expr in &projection.expr {
                if let Expr::Alias(alias) = expr {
                    if matches!(alias.expr.as_ref(), Expr::Column(c) if names.contains(&c.name)) {
                        names.push(alias.name.clone());
                    }
                }
            }
        }
        found = Some((node.clone(), names));
        Ok(TreeNodeRecursion::Stop)
    })?;
    Ok(found)
}

/// `rank <op> N` (or `N <op> rank`) over one of `names`, as the lowest and
/// highest rank it lets through.
fn rank_bound(expr: &Expr, names: &[String]) -> Option<(Option<i64>, Option<i64>)> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return None;
    };
    let is_rank = |e: &Expr| matches!(uncast(e), Expr::Column(c) if names.contains(&c.name));
    let (op, value) = if is_rank(left) {
        (*op, right.as_ref())
    } else if is_rank(right) {
        (op.swap()?, left.as_ref())
    } else {
        return None;
    };
    let Expr::Literal(value, _) = uncast(value) else {
        return None;
    };
    let ScalarValue::Int64(Some(v)) = value.cast_to(&DataType::Int64).ok()? else {
        return None;
    };
    match op {
        Operator::LtEq => Some((None, Some(v))),
        Operator::Lt => Some((None, Some(v.saturating_sub(1)))),
        Operator::Eq => Some((Some(v), Some(v))),
        Operator::GtEq => Some((Some(v), None)),
        Operator::Gt => Some((Some(v.saturating_add(1)), None)),
        _ => None,
    }
}

/// `expr` without the casts type coercion put around it.
fn uncast(expr: &Expr) -> &Expr {
    match expr {
        Expr::Cast(cast) => uncast(&cast.expr),
        Expr::TryCast(cast) => uncast(&cast.expr),
        other => other,
    }
}

/// The operator's plan for `ranked`, reading the rows `input` gives.
pub(super) fn top_n_of(
    ctx: &SessionContext,
    ranked: &RankedWindow,
    input: EmissionPlan,
    schema: SchemaRef,
    input_mode: ChangelogMode,
    settings: (Option<Duration>, Option<&str>),
    with_rank: bool,
) -> Result<TopN> {
    let (ttl, time_column) = settings;
    let state = ctx.state();
    let input_schema = ranked.window.input.schema();
    let params = &ranked.function.params;
    let partition_by = params
        .partition_by
        .iter()
        .map(|e| Ok(state.create_physical_expr(e.clone(), input_schema)?))
        .collect::<Result<Vec<_>>>()?;
    let order_by = params
        .order_by
        .iter()
        .map(|sort| {
            Ok(PhysicalSortExpr::new(
                state.create_physical_expr(sort.expr.clone(), input_schema)?,
                SortOptions::new(!sort.asc, sort.nulls_first),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    // Keep-first deduplication by event time: append-only, at the watermark.
    let first_by_event_time = match params.order_by.as_slice() {
        [sort]
            if ranked.kind == RankFunction::RowNumber
                && ranked.ranks == (1, 1)
                && sort.asc
                && input_mode == ChangelogMode::InsertOnly =>
        {
            match (&sort.expr, time_column) {
                (Expr::Column(c), Some(time)) if c.name == time => {
                    Some(input_schema.index_of_column(c)?)
                }
                _ => None,
            }
        }
        _ => None,
    };
    // Keep-last deduplication: ties in time go to the later row.
    let latest_first = ranked.kind == RankFunction::RowNumber
        && ranked.ranks == (1, 1)
        && matches!(params.order_by.as_slice(), [sort] if !sort.asc);
    let what = match (first_by_event_time, ranked.ranks) {
        (Some(_), _) => "deduplicate: keep the first row by event time, append-only".to_string(),
        (None, (1, 1)) if ranked.kind == RankFunction::RowNumber => {
            "deduplicate: keep the last row by order, updating".to_string()
        }
        (None, (low, high)) => format!(
            "top-n: {} ranks {low}..={high}{}, updating",
            ranked.kind.sql(),
            if with_rank { " (rank shown)" } else { "" }
        ),
    };
    let names = |exprs: &[Expr]| {
        exprs
            .iter()
            .map(|e| e.schema_name().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(TopN {
        input,
        partition_by,
        order_by,
        function: ranked.kind,
        ranks: ranked.ranks,
        with_rank,
        input_schema: Arc::new(input_schema.as_arrow().clone()),
        schema,
        input_mode,
        first_by_event_time,
        latest_first,
        ttl,
        description: format!(
            "{what}: partition by [{}] order by [{}]{}",
            names(&params.partition_by),
            params
                .order_by
                .iter()
                .map(|s| format!(
                    "{} {}",
                    s.expr.schema_name(),
                    if s.asc { "ASC" } else { "DESC" }
                ))
                .collect::<Vec<_>>()
                .join(", "),
            ttl.map(|t| format!(", state ttl {t:?}"))
                .unwrap_or_default()
        ),
    })
}
