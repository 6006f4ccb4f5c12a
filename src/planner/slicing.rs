//! Slicing: a windowed aggregation split into a partial aggregate per
//! slice and a final aggregate per window (Flink's slice-shared windows),
//! when the query allows it.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use super::scans::reads_stream;
use super::stand_in::stand_in;
use crate::error::Result;
use crate::operators::emission::{replace_scans, same_table, EmissionPlan};
use crate::operators::emission_source::{EmissionSourceExec, EmissionTable, Slot};
use crate::operators::sliced_window::SlicedAggregate;
use crate::window::WINDOW_COLUMNS;

/// Splits a windowed aggregation into a partial aggregate per slice and a
/// final aggregate per window, when the query allows it: one aggregation
/// over the window function, grouped by plain `window_start` and
/// `window_end` columns, with the window columns used nowhere else. Returns
/// `None` otherwise (the window operator then aggregates each window's rows
/// when it closes).
pub(super) async fn sliced_aggregate(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    provider: &Arc<dyn TableProvider>,
) -> Result<Option<SlicedAggregate>> {
    let mut aggregates = Vec::new();
    plan.apply(|node| {
        if let LogicalPlan::Aggregate(aggregate) = node {
            aggregates.push(aggregate.clone());
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    let [aggregate] = aggregates.as_slice() else {
        return Ok(None);
    };
    if !sliceable(aggregate)? {
        return Ok(None);
    }

    // One partition and no physical optimizer: the aggregate is planned as
    // Final over Partial, which is the split slicing needs.
    let mut config = ctx.state().config().clone().with_target_partitions(1);
    // The new state shares the catalogs; it must not install fresh ones.
    config
        .options_mut()
        .catalog
        .create_default_catalog_and_schema = false;
    let state = SessionStateBuilder::new_from_existing(ctx.state())
        .with_config(config)
        .with_physical_optimizer_rules(vec![])
        .build();
    let input_slot = Slot::default();
    let input: Arc<dyn TableProvider> = Arc::new(EmissionTable::new(
        provider.schema(),
        Arc::clone(&input_slot),
    ));
    let aggregate_plan = replace_scans(LogicalPlan::Aggregate(aggregate.clone()), |p| {
        same_table(p, provider).then(|| Arc::clone(&input))
    })?;
    let physical = state.create_physical_plan(&aggregate_plan).await?;
    let final_exec = {
        let any: &dyn std::any::Any = physical.as_ref();
        match any.downcast_ref::<AggregateExec>() {
            Some(exec) if *exec.mode() == AggregateMode::Final => exec,
            _ => return Ok(None),
        }
    };
    let partial = Arc::clone(final_exec.children()[0]);
    let states_slot = Slot::default();
    let final_aggregate = replace_children_if_necessary(
        Arc::clone(&physical),
        vec![Arc::new(EmissionSourceExec::new(
            partial.schema(),
            Arc::clone(&states_slot),
        ))],
    )?;
    let groups = final_exec.group_expr().expr().len();
    let position = |name: &str| partial.schema().index_of(name).ok().filter(|i| *i < groups);
    let window_columns = [
        position(WINDOW_COLUMNS[0]),
        position(WINDOW_COLUMNS[1]),
        position(WINDOW_COLUMNS[2]),
    ];
    if window_columns[0].is_none() || window_columns[1].is_none() {
        return Ok(None);
    }

    // The rest of the query reads the aggregated rows from a table standing
    // in for the Aggregate node, under the Aggregate's own column names.
    let aggregated = stand_in(aggregate.schema.as_ref(), "__aggregated")?;
    let stand_in = aggregated.plan;
    let target = LogicalPlan::Aggregate(aggregate.clone());
    let rest_plan = plan
        .clone()
        .transform_up(|node| {
            if node == target {
                Ok(Transformed::yes(stand_in.clone()))
            } else {
                Ok(Transformed::no(node))
            }
        })?
        .data;
    if reads_stream(&rest_plan)? {
        // The window is also read outside the aggregate (its rows joined
        // with its aggregate, as in Nexmark q7): each window's rows are needed.
        return Ok(None);
    }
    let rest = EmissionPlan::try_new(ctx, &rest_plan, &[aggregated.table]).await?;
    Ok(Some(SlicedAggregate {
        input_slot,
        partial,
        states_slot,
        final_aggregate,
        rest,
        rest_schema: aggregated.schema,
        window_columns,
        task: ctx.task_ctx(),
    }))
}

/// True when the window columns are only grouped on, as plain columns.
fn sliceable(aggregate: &datafusion::logical_expr::Aggregate) -> Result<bool> {
    let is_window_column =
        |e: &Expr| matches!(e, Expr::Column(c) if WINDOW_COLUMNS.contains(&c.name.as_str()));
    let uses_window = |e: &Expr| {
        e.column_refs()
            .iter()
            .any(|c| WINDOW_COLUMNS.contains(&c.name.as_str()))
    };
    if aggregate
        .group_expr
        .iter()
        .any(|e| matches!(e, Expr::GroupingSet(_)) || (!is_window_column(e) && uses_window(e)))
        || aggregate.aggr_expr.iter().any(uses_window)
    {
        return Ok(false);
    }
    // Below the aggregate, window columns may only be passed through.
    let mut passes_through = true;
    aggregate.input.apply(|node| {
        node.apply_expressions(|e| {
            if !is_window_column(e) && uses_window(e) {
                passes_through = false;
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(passes_through)
}
