//! An unbounded `GROUP BY` lowered to its operator: the grouping keys and
//! DataFusion's own aggregate functions (with their FILTER), planned as a
//! batch query would plan them.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Aggregate, Expr};
use datafusion::physical_expr::aggregate::LoweredAggregateBuilder;
use datafusion::prelude::SessionContext;

use crate::changelog::ChangelogMode;
use crate::error::{Error, Result};
use crate::operators::columnar_aggregate::{ColumnarAggregate, ColumnarPlan, Kind};
use crate::operators::emission::EmissionPlan;
use crate::operators::group_aggregate::{self, GroupAggregate};

/// The physical expressions of `aggregate`, over the rows `input` gives.
pub(super) fn group_aggregate_of(
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
            "group aggregate: by [{}], {}, updating{}",
            names.join(", "),
            match aggregate.aggr_expr.len() {
                0 => "distinct rows".to_string(),
                n => format!("{n} aggregate(s)"),
            },
            ttl.map(|t| format!(", state ttl {t:?}"))
                .unwrap_or_default()
        ),
    })
}

/// `plan` for the columnar fast path, when it can run there: an
/// insert-only input without a state TTL, every aggregate COUNT, SUM, MIN,
/// MAX or AVG of one integer or float argument, without DISTINCT or
/// FILTER. Otherwise `plan` back, for DataFusion's accumulators.
pub(super) fn columnar_plan(
    plan: GroupAggregate,
) -> Result<std::result::Result<ColumnarPlan, GroupAggregate>> {
    if plan.input_mode != ChangelogMode::InsertOnly || plan.ttl.is_some() {
        return Ok(Err(plan));
    }
    let mut aggregates = Vec::new();
    for aggregate in &plan.aggregates {
        let function = &aggregate.function;
        let arguments = function.expressions();
        let [argument] = arguments.as_slice() else {
            return Ok(Err(plan));
        };
        let name = function.fun().name().to_ascii_lowercase();
        let kind = Kind::of(&name, &argument.data_type(&plan.input_schema)?);
        match kind {
            Some(kind) if !function.is_distinct() && aggregate.filter.is_none() => {
                aggregates.push(ColumnarAggregate {
                    kind,
                    argument: Arc::clone(argument),
                });
            }
            _ => return Ok(Err(plan)),
        }
    }
    Ok(Ok(ColumnarPlan {
        input: plan.input,
        keys: plan.keys,
        aggregates,
        schema: plan.schema,
        description: plan.description.replacen(
            "group aggregate:",
            "group aggregate (columnar):",
            1,
        ),
    }))
}
