//! Unbounded `GROUP BY` over a stream (no window): the query becomes a
//! chain of updating aggregates, lowest first, each reading the rows of the
//! part of the query below it, and the rest of the query (HAVING,
//! projections) run over each change.
//!
//! ```text
//! SELECT k, COUNT(*) FROM (SELECT k, SUM(x) AS s FROM t GROUP BY k) WHERE s > 0 GROUP BY k
//!   source ─▶ group aggregate (k, SUM(x)) ─▶ group aggregate (k, COUNT(*) over s > 0) ─▶ per change: projection
//!             reads: t's rows                 reads: the changes of the first
//! ```
//!
//! Each aggregate is cut out of the plan and replaced by a stand-in table
//! its operator fills, so the part above is planned and run by DataFusion
//! as it is for windows.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Aggregate, Expr, LogicalPlan};
use datafusion::physical_expr::aggregate::LoweredAggregateBuilder;
use datafusion::prelude::SessionContext;

use super::stand_in::stand_in;
use crate::changelog::ChangelogMode;
use crate::error::{Error, Result};
use crate::operators::emission::EmissionPlan;
use crate::operators::group_aggregate::{self, GroupAggregate, GroupAggregateOperator};
use crate::operators::per_batch::PerBatchOperator;
use crate::operators::Operator;
use crate::settings::TableSettings;

/// The operators of a query grouping stream `stream` without a window, or
/// `None` when the query has no GROUP BY.
pub(super) async fn group_aggregates(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    stream: &Arc<dyn TableProvider>,
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
    let mut mode = ChangelogMode::InsertOnly;
    while let Some(aggregate) = lowest_aggregate(&rest)? {
        check_rows_only(&aggregate.input, mode)?;
        let input = EmissionPlan::try_new(ctx, &aggregate.input, &[Arc::clone(&reads)]).await?;
        let replacement = stand_in(
            aggregate.schema.as_ref(),
            &format!("__grouped_{}", operators.len() + 1),
        )?;
        let operator = GroupAggregateOperator::try_new(group_aggregate_of(
            ctx,
            &aggregate,
            input,
            Arc::clone(&replacement.schema),
            mode,
            ttl,
        )?)?;
        operators.push(Box::new(operator));
        let target = LogicalPlan::Aggregate(aggregate);
        rest = rest
            .transform_up(|node| {
                if node == target {
                    Ok(Transformed::yes(replacement.plan.clone()))
                } else {
                    Ok(Transformed::no(node))
                }
            })?
            .data;
        reads = replacement.table;
        mode = ChangelogMode::Updating;
    }
    if operators.is_empty() {
        return Ok(None);
    }
    check_rows_only(&rest, mode)?;
    let rest = EmissionPlan::try_new(ctx, &rest, &[reads]).await?;
    operators.push(Box::new(PerBatchOperator::over_changelog(Arc::new(rest))));
    Ok(Some(operators))
}

/// The aggregate of `plan` with no other aggregate below it; an error when
/// there are several (aggregates side by side, as a join of two would have).
fn lowest_aggregate(plan: &LogicalPlan) -> Result<Option<Aggregate>> {
    let mut lowest = Vec::new();
    plan.apply(|node| {
        if let LogicalPlan::Aggregate(aggregate) = node {
            let mut below = false;
            aggregate.input.apply(|n| {
                below |= matches!(n, LogicalPlan::Aggregate(_));
                Ok(if below {
                    TreeNodeRecursion::Stop
                } else {
                    TreeNodeRecursion::Continue
                })
            })?;
            if !below {
                lowest.push(aggregate.clone());
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    match lowest.len() {
        0 => Ok(None),
        1 => Ok(lowest.pop()),
        _ => Err(Error::query(
            "two GROUP BYs over a stream side by side (joined or combined) are not \
             supported yet; aggregate once, or aggregate the result of an aggregate",
        )),
    }
}

/// Refuses what cannot run on the changes of a stream between two
/// aggregates or above the last: everything but filters and projections.
fn check_rows_only(plan: &LogicalPlan, mode: ChangelogMode) -> Result<()> {
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
            LogicalPlan::Distinct(_) if mode == ChangelogMode::Updating => Some(
                "SELECT DISTINCT over an updating result (a GROUP BY's) is not supported \
                 yet; group by the distinct columns instead",
            ),
            LogicalPlan::Distinct(_) => Some(
                "SELECT DISTINCT below an unbounded GROUP BY is not supported yet; group \
                 by the distinct columns instead",
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

/// The physical expressions of `aggregate`, over the rows `input` gives.
fn group_aggregate_of(
    ctx: &SessionContext,
    aggregate: &Aggregate,
    input: EmissionPlan,
    schema: SchemaRef,
    input_mode: ChangelogMode,
    ttl: Option<std::time::Duration>,
) -> Result<GroupAggregate> {
    let state = ctx.state();
    let input_schema = aggregate.input.schema();
    let arrow_input = Arc::new(input_schema.as_arrow().clone());
    if aggregate
        .group_expr
        .iter()
        .any(|e| matches!(e, Expr::GroupingSet(_)))
    {
        return Err(Error::query(
            "GROUPING SETS, ROLLUP and CUBE over an unbounded stream are not supported yet; \
             group by plain columns",
        ));
    }
    let keys = aggregate
        .group_expr
        .iter()
        .map(|e| Ok(state.create_physical_expr(e.clone(), input_schema)?))
        .collect::<Result<Vec<_>>>()?;
    let mut aggregates = Vec::new();
    for expr in &aggregate.aggr_expr {
        let lowered = LoweredAggregateBuilder::new(
            expr,
            input_schema,
            &arrow_input,
            state.execution_props(),
            &PhysicalPlanningContext::default(),
        )
        .build()?;
        aggregates.push(group_aggregate::Aggregate {
            function: lowered.aggregate,
            filter: lowered.filter,
        });
    }
    let names: Vec<String> = aggregate
        .group_expr
        .iter()
        .map(|e| e.schema_name().to_string())
        .collect();
    Ok(GroupAggregate {
        input,
        keys,
        aggregates,
        input_schema: arrow_input,
        schema,
        input_mode,
        ttl,
        description: format!(
            "group aggregate: by [{}], {} aggregate(s), updating{}",
            names.join(", "),
            aggregate.aggr_expr.len(),
            ttl.map(|t| format!(", state ttl {t:?}"))
                .unwrap_or_default()
        ),
    })
}
