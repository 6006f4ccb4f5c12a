//! Windows on processing time: a window whose DESCRIPTOR names a column
//! computed by `PROCTIME()`, in the stream's CREATE TABLE (`p AS
//! PROCTIME()`) or in the view it windows (`SELECT *, PROCTIME() AS p FROM
//! bid`, as Nexmark q12 writes it), closes by the wall clock: the planner
//! puts a [`ProcessingTimeOperator`] right before the window, which stamps
//! the rows and makes the watermark from the clock.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::Column;
use datafusion::logical_expr::{Expr, LogicalPlan};

use super::window_table::WindowTable;
use crate::connectors::stream_table::StreamTable;
use crate::metrics::StreamMetrics;
use crate::operators::processing_time::ProcessingTimeOperator;
use crate::operators::Operator;

/// The clock for `window` when it is on processing time; `None` when it is
/// on event time.
pub(super) fn clock(
    window: &WindowTable,
    metrics: &Arc<StreamMetrics>,
) -> Option<Box<dyn Operator>> {
    let index = window.spec.time_index;
    let name = window.source.schema().field(index).name().clone();
    is_on_processing_time(window).then(|| {
        Box::new(ProcessingTimeOperator::new(
            index,
            name,
            Arc::clone(metrics),
        )) as Box<dyn Operator>
    })
}

/// True when `window`'s DESCRIPTOR names a `PROCTIME()` column.
pub(super) fn is_on_processing_time(window: &WindowTable) -> bool {
    let schema = window.source.schema();
    let name = schema.field(window.spec.time_index).name();
    match window.view_plan() {
        Some(view) => computed_by_proctime(&view, name),
        None => stream_column_is_proctime(&window.source, name),
    }
}

/// True when `provider` is a stream whose column `name` is `PROCTIME()`.
fn stream_column_is_proctime(provider: &Arc<dyn TableProvider>, name: &str) -> bool {
    StreamTable::of(provider.as_ref()).is_some_and(|s| s.is_processing_time(name))
}

/// True when output column `name` of `plan` is computed by `PROCTIME()`,
/// through projections, aliases and filters down to the stream.
fn computed_by_proctime(plan: &LogicalPlan, name: &str) -> bool {
    match plan {
        LogicalPlan::Projection(projection) => {
            let schema = projection.schema.as_ref();
            let Some(i) = (0..schema.fields().len()).find(|&i| schema.field(i).name() == name)
            else {
                return false;
            };
            match projection.expr[i].clone().unalias_nested().data {
                Expr::ScalarFunction(f) => f.name().eq_ignore_ascii_case("proctime"),
                Expr::Column(Column { name, .. }) => computed_by_proctime(&projection.input, &name),
                _ => false,
            }
        }
        LogicalPlan::SubqueryAlias(alias) => computed_by_proctime(&alias.input, name),
        LogicalPlan::Filter(filter) => computed_by_proctime(&filter.input, name),
        LogicalPlan::TableScan(scan) => {
            match datafusion::datasource::source_as_provider(&scan.source) {
                Ok(provider) => stream_column_is_proctime(&provider, name),
                Err(_) => false,
            }
        }
        _ => false,
    }
}
