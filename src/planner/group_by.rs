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
