//! A stream without a window through stateful operators: unbounded
//! `GROUP BY` (`group_by.rs`), Top-N / deduplication (`top_n.rs`) and OVER
//! aggregates (`over.rs`). The
//! query becomes a chain of them, lowest first, each reading the rows of
//! the part of the query below it, and the rest of the query (HAVING,
//! projections) runs over each change.
//!
//! ```text
//! SELECT k, COUNT(*) FROM (SELECT k, SUM(x) AS s FROM t GROUP BY k) WHERE s > 0 GROUP BY k
//!   source ─▶ group aggregate (k, SUM(x)) ─▶ group aggregate (k, COUNT(*) over s > 0) ─▶ per change: projection
//!             reads: t's rows                 reads: the changes of the first
//! ```
//!
//! Each stateful node is cut out of the plan and replaced by a stand-in
//! table its operator fills, so the part above is planned and run by
//! DataFusion as it is for windows.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Aggregate, Distinct, Expr, LogicalPlan, Window};
use datafusion::prelude::SessionContext;

use super::group_by::{columnar_plan, group_aggregate_of};
use super::over::{is_over_aggregate, over_aggregate_of};
use super::stand_in::stand_in;
use super::top_n::{ranked_window, top_n_of};
use crate::changelog::ChangelogMode;
use crate::error::{Error, Result};
use crate::metrics::StreamMetrics;
use crate::operators::columnar_aggregate::ColumnarAggregateOperator;
use crate::operators::emission::EmissionPlan;
use crate::operators::group_aggregate::GroupAggregateOperator;
use crate::operators::over_aggregate::OverAggregateOperator;
use crate::operators::per_batch::PerBatchOperator;
use crate::operators::top_n::TopNOperator;
use crate::operators::Operator;
use crate::settings::TableSettings;

/// The operators of a query over stream `stream` (without a window) that
/// groups or ranks it, or `None` when it does neither. `time_column` is
/// the stream's event-time column, if it declares one; `input` says
/// whether the stream's rows are a changelog (a join's output can be).
pub(super) async fn updating_operators(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    stream: &Arc<dyn TableProvider>,
    time_column: Option<&str>,
    input: ChangelogMode,
    metrics: &Arc<StreamMetrics>,
) -> Result<Option<Vec<Box<dyn Operator>>>> {
    let ttl = ctx
        .state()
        .config()
        .options()
        .extensions
        .get::<TableSettings>()
        .and_then(TableSettings::state_ttl);
    // DataFusion's analyzer first (type coercion: AVG of a BIGINT reads a
    // DOUBLE), so the aggregates are planned as a batch query's would be.
    let state = ctx.state();
    let mut rest =
        state
            .analyzer()
            .execute_and_check(plan.clone(), state.config_options(), |_, _| {})?;
    let mut operators: Vec<Box<dyn Operator>> = Vec::new();
    let mut reads = Arc::clone(stream);
    let mut mode = input;
    while let Some(node) = lowest_stateful(&rest)? {
        let name = format!("__updating_{}", operators.len() + 1);
        let operator: Box<dyn Operator> = match node {
            Stateful::Aggregate(aggregate, node) => {
                check_rows_only(&aggregate.input)?;
                let input =
                    EmissionPlan::try_new(ctx, &aggregate.input, &[Arc::clone(&reads)]).await?;
                let replacement = stand_in(aggregate.schema.as_ref(), &name)?;
                let plan = group_aggregate_of(
                    ctx,
                    &aggregate,
                    input,
                    Arc::clone(&replacement.schema),
                    mode,
                    ttl,
                )?;
                rest = replace(rest, &node, &replacement.plan)?;
                reads = replacement.table;
                match columnar_plan(plan)? {
                    Ok(fast) => Box::new(ColumnarAggregateOperator::try_new(fast)?),
                    Err(plan) => Box::new(GroupAggregateOperator::try_new(plan)?),
                }
            }
            Stateful::Window(window) if is_over_aggregate(&window) => {
                check_rows_only(&window.input)?;
                let input =
                    EmissionPlan::try_new(ctx, &window.input, &[Arc::clone(&reads)]).await?;
                let replacement = stand_in(window.schema.as_ref(), &name)?;
                let plan = over_aggregate_of(
                    ctx,
                    &window,
                    input,
                    Arc::clone(&replacement.schema),
                    mode,
                    time_column,
                    Arc::clone(metrics),
                )?;
                rest = replace(rest, &LogicalPlan::Window(window), &replacement.plan)?;
                reads = replacement.table;
                Box::new(OverAggregateOperator::try_new(plan)?)
            }
            Stateful::Window(window) => {
                check_rows_only(&window.input)?;
                let ranked = ranked_window(&rest, &window)?;
                let input =
                    EmissionPlan::try_new(ctx, &window.input, &[Arc::clone(&reads)]).await?;
                let replacement = stand_in(window.schema.as_ref(), &name)?;
                // The filter on the rank is the operator's: it goes first,
                // then the window gives way to the stand-in.
                rest = replace(rest, &ranked.filter, &ranked.remaining)?;
                rest = replace(
                    rest,
                    &LogicalPlan::Window(window.clone()),
                    &replacement.plan,
                )?;
                let rank_index = replacement.schema.fields().len() - 1;
                let with_rank = reads_column(ctx, &rest, &name, rank_index)?;
                let plan = top_n_of(
                    ctx,
                    &ranked,
                    input,
                    Arc::clone(&replacement.schema),
                    mode,
                    (ttl, time_column),
                    with_rank,
                )?;
                reads = replacement.table;
                Box::new(TopNOperator::try_new(plan)?)
            }
        };
        mode = operator.changelog_mode(mode);
        operators.push(operator);
    }
    if operators.is_empty() {
        return Ok(None);
    }
    check_rows_only(&rest)?;
    let rest = Arc::new(EmissionPlan::try_new(ctx, &rest, &[reads]).await?);
    operators.push(Box::new(match mode {
        ChangelogMode::InsertOnly => PerBatchOperator::new(rest, 0),
        ChangelogMode::Updating => PerBatchOperator::over_changelog(rest),
    }));
    Ok(Some(operators))
}

/// `plan` with `target` replaced by `replacement`.
fn replace(
    plan: LogicalPlan,
    target: &LogicalPlan,
    replacement: &LogicalPlan,
) -> Result<LogicalPlan> {
    Ok(plan
        .transform_up(|node| {
            if node == *target {
                Ok(Transformed::yes(replacement.clone()))
            } else {
                Ok(Transformed::no(node))
            }
        })?
        .data)
}

/// Whether `plan` needs column `index` of its scan of `table`: the
/// optimizer prunes the columns nobody reads.
fn reads_column(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    table: &str,
    index: usize,
) -> Result<bool> {
    let optimized = ctx.state().optimize(plan)?;
    let mut reads = true;
    optimized.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if scan.table_name.table() == table {
                reads = scan.projection.as_ref().is_none_or(|p| p.contains(&index));
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(reads)
}

/// A node that keeps state across batches.
enum Stateful {
    /// A GROUP BY, or a `SELECT DISTINCT` as the GROUP BY of all its
    /// columns (Flink's way: over an updating input a distinct row comes
    /// and goes with its copies), with the node it stands for.
    Aggregate(Aggregate, LogicalPlan),
    Window(Window),
}

/// The stateful node of `plan` with no other below it; an error when there
/// are several (aggregates side by side, as a join of two would have).
fn lowest_stateful(plan: &LogicalPlan) -> Result<Option<Stateful>> {
    let is_stateful = |n: &LogicalPlan| {
        matches!(
            n,
            LogicalPlan::Aggregate(_) | LogicalPlan::Window(_) | LogicalPlan::Distinct(_)
        )
    };
    let mut lowest = Vec::new();
    plan.apply(|node| {
        let stateful = match node {
            LogicalPlan::Aggregate(a) => Stateful::Aggregate(a.clone(), node.clone()),
            LogicalPlan::Window(w) => Stateful::Window(w.clone()),
            LogicalPlan::Distinct(Distinct::All(input)) => {
                let columns = input
                    .schema()
                    .columns()
                    .into_iter()
                    .map(Expr::Column)
                    .collect();
                let aggregate = Aggregate::try_new(Arc::clone(input), columns, Vec::new())?;
                Stateful::Aggregate(aggregate, node.clone())
            }
            LogicalPlan::Distinct(Distinct::On(_)) => {
                return Err(datafusion::error::DataFusionError::Plan(
                    "DISTINCT ON over a stream is not supported; rank with ROW_NUMBER() OVER \
                     (PARTITION BY ... ORDER BY ...) = 1 (deduplication) instead"
                        .into(),
                ))
            }
            _ => return Ok(TreeNodeRecursion::Continue),
        };
        let mut below = false;
        for input in node.inputs() {
            input.apply(|n| {
                below |= is_stateful(n);
                Ok(if below {
                    TreeNodeRecursion::Stop
                } else {
                    TreeNodeRecursion::Continue
                })
            })?;
        }
        if !below {
            lowest.push(stateful);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    match lowest.len() {
        0 => Ok(None),
        1 => Ok(lowest.pop()),
        _ => Err(Error::query(
            "two GROUP BYs or OVER (...) rankings over a stream side by side (joined or \
             combined) are not supported yet; aggregate or rank once, or aggregate the \
             result of an aggregate",
        )),
    }
}

/// Refuses what cannot run on the changes of a stream between two
/// aggregates or above the last: everything but filters and projections.
fn check_rows_only(plan: &LogicalPlan) -> Result<()> {
    let mut problem: Option<&'static str> = None;
    plan.apply(|node| {
        problem = match node {
            LogicalPlan::Join(_) => Some(
                "joins with an unbounded stream are not supported yet; join within a \
                 window instead: both sides over TABLE(TUMBLE(...)), joined on \
                 window_start and window_end",
            ),
            LogicalPlan::Sort(_) | LogicalPlan::Limit(_) => Some(
                "ORDER BY and LIMIT on an unbounded stream never finish; use them over a \
                 window function, where they apply to each emission, or rank with \
                 ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...) <= N (Top-N)",
            ),
            LogicalPlan::Window(_) => Some(
                "OVER (...) window functions next to an unbounded GROUP BY are not \
                 supported yet; use a window table function such as TUMBLE(...)",
            ),
            LogicalPlan::Union(_) => {
                Some("an unbounded GROUP BY over a UNION of streams is not supported yet")
            }
            _ => None,
        };
        Ok(if problem.is_some() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    problem.map_or(Ok(()), |message| Err(Error::query(message)))
}
