//! `Pipeline`: stream sources and their chains of operators, run as a task
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
use tokio::sync::mpsc;

use super::metrics::StreamMetrics;
use crate::connectors::StreamSource;
use crate::error::{Error, Result};
use crate::operators::{Operator, Output};
use crate::results::QueryStream;

/// A stream source and the operators its batches go through.
pub struct Chain {
    /// One line for EXPLAIN describing the source.
    pub description: String,
    /// Where batches come from (`None` when the pipeline is only described).
    pub source: Option<StreamSource>,
    /// The operators, in order.
    pub operators: Vec<Box<dyn Operator>>,
}

/// One chain per stream the query reads (several for a UNION ALL of streams).
pub struct Pipeline {
    chains: Vec<Chain>,
    metrics: Arc<StreamMetrics>,
}

impl Pipeline {
    /// A pipeline of `chains`, counting into `metrics`.
    pub fn new(chains: Vec<Chain>, metrics: Arc<StreamMetrics>) -> Self {
        Pipeline { chains, metrics }
    }

    /// One line per stage, source first, for EXPLAIN.
    pub fn describe(&self) -> Vec<String> {
        let many = self.chains.len() > 1;
        let mut lines = Vec::new();
        for (i, chain) in self.chains.iter().enumerate() {
            let prefix = if many {
                format!("stream {}: ", i + 1)
            } else {
                String::new()
            };
            lines.push(format!("{prefix}{}", chain.description));
            lines.extend(
                chain
                    .operators
                    .iter()
                    .map(|op| format!("{prefix}{}", op.describe())),
            );
        }
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
        QueryStream::from_task(schema, receiver, task, Some(metrics))
    }

    /// Runs until every source ends or the reader goes away. Several
    /// sources are read in turn, a batch each. Each source is read ahead by
    /// a task of its own, so reading and decoding overlap with the
    /// operators' work.
    async fn run(mut self, sender: &mpsc::Sender<Result<RecordBatch>>) -> Result<()> {
        let mut readers = Vec::with_capacity(self.chains.len());
        for chain in &mut self.chains {
            let source = chain
                .source
                .take()
                .ok_or_else(|| Error::Internal("a described pipeline was started".into()))?;
            readers.push(read_ahead(source));
        }
        let mut active: Vec<usize> = (0..self.chains.len()).collect();
        while !active.is_empty() {
            let mut still_active = Vec::with_capacity(active.len());
            for chain in active {
                let next = readers[chain].0.recv().await.transpose()?;
                let results = match next {
                    Some(batch) => {
                        still_active.push(chain);
                        self.push(chain, Output::batches(vec![batch])).await?
                    }
                    None => self.finish(chain).await?,
                };
                if !send_all(sender, results).await {
                    return Ok(());
                }
            }
            active = still_active;
        }
        Ok(())
    }

    /// Passes `input` through every operator of chain `chain`.
    async fn push(&mut self, chain: usize, input: Output) -> Result<Vec<RecordBatch>> {
        let mut pending = input;
        for operator in &mut self.chains[chain].operators {
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
        let open = self
            .chains
            .iter()
            .flat_map(|c| c.operators.iter())
            .map(|op| op.open_windows())
            .sum();
        self.metrics.record_open_windows(open);
        Ok(pending.batches)
    }

    /// Ends chain `chain`'s input: each operator emits what it holds, in order.
    async fn finish(&mut self, chain: usize) -> Result<Vec<RecordBatch>> {
        let mut carried = Vec::new();
        for operator in &mut self.chains[chain].operators {
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

/// Batches read ahead from `source` (at most `READ_AHEAD` waiting), by a
/// task that stops when the receiver is dropped.
fn read_ahead(mut source: StreamSource) -> (mpsc::Receiver<Result<RecordBatch>>, SpawnedTask<()>) {
    let (sender, receiver) = mpsc::channel(READ_AHEAD);
    let task = SpawnedTask::spawn(async move {
        loop {
            let next = source.next_batch().await.transpose();
            let end = !matches!(next, Some(Ok(_)));
            if let Some(next) = next {
                if sender.send(next).await.is_err() {
                    return;
                }
            }
            if end {
                return;
            }
        }
    });
    (receiver, task)
}

/// Batches a source may read ahead of the operators.
const READ_AHEAD: usize = 2;

/// Sends every non-empty batch; false when the reader has gone.
async fn send_all(sender: &mpsc::Sender<Result<RecordBatch>>, batches: Vec<RecordBatch>) -> bool {
    for batch in batches.into_iter().filter(|b| b.num_rows() > 0) {
        if sender.send(Ok(batch)).await.is_err() {
            return false;
        }
    }
    true
}
