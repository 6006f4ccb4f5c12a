//! `EmissionPlan`: the query's own DataFusion plan, run over the rows of one
//! emission.
//!
//! The streaming operators decide *which* rows are complete (the rows of the
//! windows the watermark has closed, or one batch of a stateless query); what
//! to compute over them is the user's query, unchanged. The plan's scan of the
//! stream (or of the window function over it) is replaced by a scan of those
//! rows in memory and DataFusion runs the rest: filters, projections, every
//! aggregate (DISTINCT, FILTER, HAVING, UDAFs), ordering within the emission.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::{provider_as_source, source_as_provider, MemTable};
use datafusion::logical_expr::{LogicalPlan, TableScan, TableScanBuilder};
use datafusion::prelude::SessionContext;

use crate::error::Result;

/// The query's plan with one table scan to feed from memory.
pub struct EmissionPlan {
    ctx: SessionContext,
    plan: LogicalPlan,
    target: Arc<dyn TableProvider>,
}

impl EmissionPlan {
    /// `plan`, whose scans of `target` will read each emission's rows.
    pub fn new(ctx: SessionContext, plan: LogicalPlan, target: Arc<dyn TableProvider>) -> Self {
        EmissionPlan { ctx, plan, target }
    }

    /// The schema of the rows `run` takes.
    pub fn input_schema(&self) -> SchemaRef {
        self.target.schema()
    }

    /// Runs the query over `rows` and returns its result.
    pub async fn run(&self, rows: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        let memory: Arc<dyn TableProvider> =
            Arc::new(MemTable::try_new(self.input_schema(), vec![rows])?);
        let plan = self
            .plan
            .clone()
            .transform_up(|node| match node {
                LogicalPlan::TableScan(scan) if self.is_target(&scan) => {
                    let replaced = TableScanBuilder::new(
                        scan.table_name.clone(),
                        provider_as_source(Arc::clone(&memory)),
                    )
                    .with_projection(scan.projection.clone())
                    .with_filters(scan.filters.clone())
                    .with_fetch(scan.fetch)
                    .build()?;
                    Ok(Transformed::yes(LogicalPlan::TableScan(replaced)))
                }
                other => Ok(Transformed::no(other)),
            })?
            .data;
        Ok(self.ctx.execute_logical_plan(plan).await?.collect().await?)
    }

    fn is_target(&self, scan: &TableScan) -> bool {
        source_as_provider(&scan.source).is_ok_and(|provider| same_table(&provider, &self.target))
    }
}

/// True when both point at the same table object.
pub fn same_table(a: &Arc<dyn TableProvider>, b: &Arc<dyn TableProvider>) -> bool {
    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}
