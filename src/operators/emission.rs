//! `EmissionPlan`: the query's own DataFusion plan, run over the rows of one
//! emission.
//!
//! The streaming operators decide *which* rows are complete (the rows of the
//! windows the watermark has closed, or one batch of a stateless query); what
//! to compute over them is the user's query, unchanged. The plan's scan of the
//! stream (or of the window function over it) is replaced by an
//! [`EmissionTable`], the plan is optimized and physically planned once, and
//! each emission runs that physical plan over its rows: filters, projections,
//! every aggregate (DISTINCT, FILTER, HAVING, UDAFs), ordering within the
//! emission.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::Transformed;
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{LogicalPlan, TableScanBuilder};
use datafusion::physical_plan::execution_plan::reset_plan_states;
use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::operators::emission_source::{EmissionTable, Slot};

/// The query's physical plan, fed from one slot per stream it reads.
pub struct EmissionPlan {
    physical: Arc<dyn ExecutionPlan>,
    slots: Vec<Slot>,
    task: Arc<TaskContext>,
}

impl EmissionPlan {
    /// Plans `plan` once, with its scans of each of `targets` reading that
    /// target's rows of each emission.
    pub async fn try_new(
        ctx: &SessionContext,
        plan: &LogicalPlan,
        targets: &[Arc<dyn TableProvider>],
    ) -> Result<Self> {
        let slots: Vec<Slot> = targets.iter().map(|_| Slot::default()).collect();
        let tables: Vec<Arc<dyn TableProvider>> = targets
            .iter()
            .zip(&slots)
            .map(|(target, slot)| {
                Arc::new(EmissionTable::new(target.schema(), Arc::clone(slot))) as _
            })
            .collect();
        let plan = replace_scans(plan.clone(), |provider| {
            targets
                .iter()
                .position(|target| same_table(provider, target))
                .map(|i| Arc::clone(&tables[i]))
        })?;
        let physical = ctx
            .execute_logical_plan(plan)
            .await?
            .create_physical_plan()
            .await?;
        Ok(EmissionPlan {
            physical,
            slots,
            task: ctx.task_ctx(),
        })
    }

    /// Runs the query over `rows` (of the first target) and returns its result.
    pub async fn run(&self, rows: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        self.run_from(0, rows).await
    }

    /// Runs the query over `rows` of target `source`, the other targets
    /// empty, and returns its result.
    pub async fn run_from(
        &self,
        source: usize,
        rows: Vec<RecordBatch>,
    ) -> Result<Vec<RecordBatch>> {
        for (i, slot) in self.slots.iter().enumerate() {
            if i != source {
                fill(slot, Vec::new())?;
            }
        }
        run_over(&self.physical, &self.slots[source], rows, &self.task).await
    }

    /// Runs the query over `rows`, one list per target (each side of a
    /// window join), and returns its result.
    pub async fn run_each(&self, rows: Vec<Vec<RecordBatch>>) -> Result<Vec<RecordBatch>> {
        let mut rows = rows.into_iter();
        let first = rows.next().unwrap_or_default();
        for slot in &self.slots[1..] {
            fill(slot, rows.next().unwrap_or_default())?;
        }
        let result = run_over(&self.physical, &self.slots[0], first, &self.task).await;
        for slot in &self.slots[1..] {
            fill(slot, Vec::new())?;
        }
        result
    }
}

fn fill(slot: &Slot, rows: Vec<RecordBatch>) -> Result<()> {
    *slot
        .lock()
        .map_err(|_| Error::Internal("emission slot poisoned".into()))? = rows;
    Ok(())
}

/// Runs `plan` once with `rows` in `slot` (which its leaves read), then
/// empties the slot, so no emission's rows outlive it.
pub async fn run_over(
    plan: &Arc<dyn ExecutionPlan>,
    slot: &Slot,
    rows: Vec<RecordBatch>,
    task: &Arc<TaskContext>,
) -> Result<Vec<RecordBatch>> {
    fill(slot, rows)?;
    // Operators such as TopK keep state between runs unless reset.
    let plan = reset_plan_states(Arc::clone(plan))?;
    let result = collect(plan, Arc::clone(task)).await;
    fill(slot, Vec::new())?;
    Ok(result?)
}

/// `plan` with each table scan (its subqueries' too) whose table
/// `replacement` maps to another table reading that one instead (same
/// name, projection and filters).
pub fn replace_scans(
    plan: LogicalPlan,
    replacement: impl Fn(&Arc<dyn TableProvider>) -> Option<Arc<dyn TableProvider>>,
) -> Result<LogicalPlan> {
    Ok(plan
        .transform_up_with_subqueries(|node| {
            let LogicalPlan::TableScan(scan) = &node else {
                return Ok(Transformed::no(node));
            };
            let Some(table) = source_as_provider(&scan.source)
                .ok()
                .and_then(|p| replacement(&p))
            else {
                return Ok(Transformed::no(node));
            };
            let replaced =
                TableScanBuilder::new(scan.table_name.clone(), provider_as_source(table))
                    .with_projection(scan.projection.clone())
                    .with_filters(scan.filters.clone())
                    .with_fetch(scan.fetch)
                    .build()?;
            Ok(Transformed::yes(LogicalPlan::TableScan(replaced)))
        })?
        .data)
}

/// True when both point at the same table object.
pub fn same_table(a: &Arc<dyn TableProvider>, b: &Arc<dyn TableProvider>) -> bool {
    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}
