//! `Pipeline`: a stream source and its chain of operators, run as a task
//! whose results flow into a [`QueryStream`] as they are emitted.
//!
//! Each batch from the source goes through the operators in order; an
//! operator's output (batches, then a risen watermark) is the next one's
//! input. When the source ends, every operator is told in order, so open
//! windows are emitted. The results channel holds one batch: a slow reader
//! slows the pipeline instead of piling up results. Dropping the
//! `QueryStream` aborts the task.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::runtime::SpawnedTask;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use tokio::sync::mpsc;

use super::metrics::StreamMetrics;
use crate::connectors::StreamSource;
use crate::error::Result;
use crate::operators::{Operator, Output};
use crate::results::QueryStream;

/// A source feeding a chain of operators.
pub struct Pipeline {
    source_description: String,
    source: StreamSource,
    operators: Vec<Box<dyn Operator>>,
    metrics: Arc<StreamMetrics>,
}

impl Pipeline {
    /// A pipeline reading `source` (described for EXPLAIN by
    /// `source_description`) into `operators`.
    pub fn new(
        source_description: String,
        source: StreamSource,
        operators: Vec<Box<dyn Operator>>,
        metrics: Arc<StreamMetrics>,
    ) -> Self {
        Pipeline {
            source_description,
            source,
            operators,
            metrics,
        }
    }

    /// One line per stage, source first, for EXPLAIN.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![self.source_description.clone()];
        lines.extend(self.operators.iter().map(|op| op.describe()));
        lines
    }

    /// Starts the pipeline on the Tokio runtime; results arrive on the
    /// returned stream as they are emitted.
    pub fn start(self, schema: SchemaRef) -> QueryStream {
        let (sender, receiver) = mpsc::channel::<Result<RecordBatch>>(1);
        let metrics = Arc::clone(&self.metrics);
        let task = SpawnedTask::spawn(async move {
            if let Err(err) = self.run(&sender).await {
                let _ = sender.send(Err(err)).await;
            }
        });
        let batches =
            futures::stream::unfold((receiver, task), |(mut receiver, task)| async move {
                let item = receiver.recv().await?;
                Some((item.map_err(DataFusionError::from), (receiver, task)))
            });
        QueryStream::streaming(
            Box::pin(RecordBatchStreamAdapter::new(schema, batches)),
            metrics,
        )
    }

    /// Runs until the source ends or the reader goes away.
    async fn run(mut self, sender: &mpsc::Sender<Result<RecordBatch>>) -> Result<()> {
        while let Some(batch) = self.source.next_batch().await? {
            let results = self.push(Output::batches(vec![batch])).await?;
            if !send_all(sender, results).await {
                return Ok(());
            }
        }
        let results = self.finish().await?;
        send_all(sender, results).await;
        Ok(())
    }

    /// Passes `input` through every operator.
    async fn push(&mut self, input: Output) -> Result<Vec<RecordBatch>> {
        let mut pending = input;
        for operator in &mut self.operators {
            let mut next = Output::default();
            for batch in pending.batches {
                let out = operator.process_batch(batch).await?;
                next.batches.extend(out.batches);
                next.watermark = out.watermark.or(next.watermark);
            }
            if let Some(watermark) = pending.watermark {
                let out = operator.on_watermark(watermark).await?;
                next.batches.extend(out.batches);
                next.watermark = out.watermark.or(next.watermark);
            }
            pending = next;
        }
        let open = self.operators.iter().map(|op| op.open_windows()).sum();
        self.metrics.record_open_windows(open);
        Ok(pending.batches)
    }

    /// Ends the input: each operator emits what it holds, in order.
    async fn finish(&mut self) -> Result<Vec<RecordBatch>> {
        let mut carried = Vec::new();
        for operator in &mut self.operators {
            let mut next = Vec::new();
            for batch in carried {
                next.extend(operator.process_batch(batch).await?.batches);
            }
            next.extend(operator.on_end_of_input().await?.batches);
            carried = next;
        }
        Ok(carried)
    }
}

/// Sends every non-empty batch; false when the reader has gone.
async fn send_all(sender: &mpsc::Sender<Result<RecordBatch>>, batches: Vec<RecordBatch>) -> bool {
    for batch in batches.into_iter().filter(|b| b.num_rows() > 0) {
        if sender.send(Ok(batch)).await.is_err() {
            return false;
        }
    }
    true
}
