//! The stateless operator: runs the query over each batch as it arrives
//! (`WHERE`, projections and scalar functions on a stream, and UNION ALL of
//! streams).

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;

use super::{Operator, Output};
use crate::error::Result;
use crate::operators::emission::EmissionPlan;

/// Runs the query's plan over every batch.
pub struct PerBatchOperator {
    plan: Arc<EmissionPlan>,
    /// Which of the plan's streams this operator's batches come from (a
    /// UNION ALL of streams reads several).
    source: usize,
}

impl PerBatchOperator {
    /// Runs `plan` per batch of its stream number `source`.
    pub fn new(plan: Arc<EmissionPlan>, source: usize) -> Self {
        PerBatchOperator { plan, source }
    }
}

#[async_trait::async_trait]
impl Operator for PerBatchOperator {
    fn name(&self) -> &'static str {
        "per_batch"
    }

    fn describe(&self) -> String {
        "per batch: filter and project each batch as it arrives".to_string()
    }

    fn needs_watermark(&self) -> bool {
        false
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        if batch.num_rows() == 0 {
            return Ok(Output::default());
        }
        Ok(Output::batches(
            self.plan.run_from(self.source, vec![batch]).await?,
        ))
    }
}
