//! Makes the partitions of one file's scan read the file in order: read one
//! after another, partition 0 first, they give the file's rows in the order
//! the file holds them, which is what a stream's event time needs.
//!
//! DataFusion splits a large file into byte ranges, one partition each, and
//! by default a partition that runs out of work takes ranges queued for its
//! siblings (work stealing), so partition `i` need not read the `i`th range:
//! read in partition order, rows could come out of order and be dropped as
//! late. `preserve_order` turns the stealing off.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;

use crate::error::Result;

/// `plan` with every file scan in it reading its ranges in partition order.
pub fn in_file_order(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    let ordered = plan.transform_up(|node| {
        let Some(config) = node
            .downcast_ref::<DataSourceExec>()
            .and_then(|exec| exec.data_source().downcast_ref::<FileScanConfig>())
            .filter(|config| !config.preserve_order)
        else {
            return Ok(Transformed::no(node));
        };
        let mut config = config.clone();
        config.preserve_order = true;
        let scan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
        Ok(Transformed::yes(scan))
    })?;
    Ok(ordered.data)
}
