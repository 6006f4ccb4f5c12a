//! The stateless operator: runs the query over each batch as it arrives
//! (`WHERE`, projections and scalar functions on a stream, UNION ALL of
//! streams, and HAVING and projections over an updating aggregate's
//! changes).

use std::sync::Arc;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::record_batch::RecordBatch;

use super::{Operator, Output};
use crate::changelog::{self, ChangelogMode};
use crate::error::Result;
use crate::operators::emission::EmissionPlan;

/// Runs the query's plan over every batch.
pub struct PerBatchOperator {
    plan: Arc<EmissionPlan>,
    /// Which of the plan's streams this operator's batches come from (a
    /// UNION ALL of streams reads several).
    source: usize,
    /// Whether its batches are a changelog: then the plan runs over each
    /// kind's rows and every row it gives keeps its kind (a filter or a
    /// projection acts on each change alone, as in Flink).
    input_mode: ChangelogMode,
}

impl PerBatchOperator {
    /// Runs `plan` per batch of its stream number `source`.
    pub fn new(plan: Arc<EmissionPlan>, source: usize) -> Self {
        PerBatchOperator {
            plan,
            source,
            input_mode: ChangelogMode::InsertOnly,
        }
    }

    /// Runs `plan` per batch of a changelog, keeping each row's kind.
    pub fn over_changelog(plan: Arc<EmissionPlan>) -> Self {
        PerBatchOperator {
            plan,
            source: 0,
            input_mode: ChangelogMode::Updating,
        }
    }
}

#[async_trait::async_trait]
impl Operator for PerBatchOperator {
    fn name(&self) -> &'static str {
        "per_batch"
    }

    fn describe(&self) -> String {
        match self.input_mode {
            ChangelogMode::InsertOnly => "per batch: filter and project each batch as it arrives",
            ChangelogMode::Updating => "per change: filter and project each change as it arrives",
        }
        .to_string()
    }

    fn needs_watermark(&self) -> bool {
        false
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        if batch.num_rows() == 0 {
            return Ok(Output::default());
        }
        if self.input_mode == ChangelogMode::InsertOnly {
            return Ok(Output::batches(
                self.plan.run_from(self.source, vec![batch]).await?,
            ));
        }
        let mut out = Vec::new();
        for (kind, rows) in changelog::split(&batch)? {
            for result in self.plan.run(vec![rows]).await? {
                if result.num_rows() > 0 {
                    out.push(changelog::with_kind(&result, kind)?);
                }
            }
        }
        // One batch per batch taken, as an insert-only query gives.
        match out.first() {
            Some(first) if out.len() > 1 => Ok(Output::batches(vec![concat_batches(
                &first.schema(),
                &out,
            )?])),
            _ => Ok(Output::batches(out)),
        }
    }
}
