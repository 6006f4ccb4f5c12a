//! The stateless operator: runs the query over each batch as it arrives
//! (`WHERE`, projections and scalar functions on a stream).

use datafusion::arrow::record_batch::RecordBatch;

use super::{Operator, Output};
use crate::error::Result;
use crate::plan::emission::EmissionPlan;

/// Runs the query's plan over every batch.
pub struct PerBatchOperator {
    plan: EmissionPlan,
}

impl PerBatchOperator {
    /// Runs `plan` per batch.
    pub fn new(plan: EmissionPlan) -> Self {
        PerBatchOperator { plan }
    }
}

#[async_trait::async_trait]
impl Operator for PerBatchOperator {
    fn describe(&self) -> String {
        "per batch: filter and project each batch as it arrives".to_string()
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        if batch.num_rows() == 0 {
            return Ok(Output::default());
        }
        Ok(Output::batches(self.plan.run(vec![batch]).await?))
    }
}
