//! `Pipeline`: stream sources and their chains of operators, run as a task
//! whose results flow into a [`QueryStream`] as they are emitted.
//!
//! Each batch from the source goes through the operators in order; an
//! operator's output (batches, then a risen watermark) is the next one's
//! input. When the source ends, every operator is told in order, so open
//! windows are emitted. The results channel holds one batch: a slow reader
//! slows the pipeline instead of piling up results. Dropping the
//! `QueryStream` aborts the task.
//!
//! With checkpoints on, the state of the whole pipeline is taken between
//! two batches once the interval has passed (also while waiting for a
//! source with nothing to read): every batch before has gone through every
//! operator and none after has begun, so it is consistent without barriers.
//! It goes to the reader beside the results, saying how many result batches
//! precede it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::runtime::SpawnedTask;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};
use tokio::sync::mpsc;

use crate::changelog::{self, ChangelogMode};
use crate::checkpoint::QueryState;
use crate::connectors::source::{Source, SourcePosition};
use crate::error::{catch_panic, Error, Result};
use crate::metrics::StreamMetrics;
use crate::operators::{Operator, Output};
use crate::results::QueryStream;

/// A stream source and the operators its batches go through.
pub struct Chain {
    /// One line for EXPLAIN describing the source.
    pub description: String,
    /// The source's definition, part of what a checkpoint belongs to: a
    /// redefined table does not resume another definition's checkpoint.
    pub definition: String,
    /// Where batches come from (`None` when the pipeline is only described).
    pub source: Option<Box<dyn Source>>,
    /// The operators, in order.
    pub operators: Vec<Box<dyn Operator>>,
    /// The id the source's position is checkpointed under (chosen by the
    /// planner: stable across runs of the same query).
    pub source_id: String,
    /// Per operator, the id its state is checkpointed under.
    pub operator_ids: Vec<String>,
}

/// One chain per stream the query reads (several for a UNION ALL of streams).
pub struct Pipeline {
    chains: Vec<Chain>,
    metrics: Arc<StreamMetrics>,
    /// The operators' state, counted against DataFusion's memory pool
    /// (`datafusion.runtime.memory_limit`).
    memory: MemoryReservation,
    /// Per chain, where its source stood after the last batch taken in
    /// (`None` for a source that cannot be replayed, or before any).
    positions: Vec<Option<Box<dyn SourcePosition>>>,
    /// Result batches sent so far.
    results_sent: u64,
    checkpoints: Option<Checkpoints>,
}

/// When to take checkpoints and where they go.
struct Checkpoints {
    every: Duration,
    last: Instant,
    sender: mpsc::UnboundedSender<QueryState>,
}

impl Pipeline {
    /// A pipeline of `chains`, counting into `metrics`, its state held in
    /// `pool`.
    pub fn new(
        chains: Vec<Chain>,
        metrics: Arc<StreamMetrics>,
        pool: &Arc<dyn MemoryPool>,
    ) -> Self {
        let positions = chains.iter().map(|_| None).collect();
        Pipeline {
            chains,
            metrics,
            memory: MemoryConsumer::new("flowsql streaming state").register(pool),
            positions,
            results_sent: 0,
            checkpoints: None,
        }
    }

    /// Takes a checkpoint between batches whenever `every` has passed since
    /// the last (after every batch for zero); they arrive on the returned
    /// receiver.
    pub fn checkpoint_every(&mut self, every: Duration) -> mpsc::UnboundedReceiver<QueryState> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.checkpoints = Some(Checkpoints {
            every,
            last: Instant::now(),
            sender,
        });
        receiver
    }

    /// The definitions of the tables the chains read, one per line.
    pub fn definitions(&self) -> String {
        let lines: Vec<&str> = self.chains.iter().map(|c| c.definition.as_str()).collect();
        lines.join("\n")
    }

    /// Goes on from `state`, a checkpoint of the same query: sources read on
    /// from where it was taken and operators hold what they held then.
    pub fn restore(&mut self, mut state: QueryState) -> Result<()> {
        for (chain, position) in self.chains.iter_mut().zip(&mut self.positions) {
            let source = state.sources.remove(&chain.source_id).unwrap_or_default();
            if let Some(reader) = &mut chain.source {
                reader.resume(source)?;
                *position = reader.position();
            }
            for (operator, id) in chain.operators.iter_mut().zip(&chain.operator_ids) {
                operator.restore(state.operators.remove(id).unwrap_or_default())?;
            }
        }
        let left = state.sources.keys().chain(state.operators.keys());
        if let Some(id) = left.into_iter().next() {
            return Err(Error::query(format!(
                "the checkpoint holds state for '{id}', which this query does not have; \
                 it was taken by a different query"
            )));
        }
        self.metrics.restore(state.metrics);
        Ok(())
    }

    /// The state of every source and operator now.
    async fn snapshot(&mut self) -> Result<QueryState> {
        let mut state = QueryState {
            results_before: self.results_sent,
            metrics: self.metrics.snapshot(),
            ..QueryState::default()
        };
        for (chain, position) in self.chains.iter_mut().zip(&self.positions) {
            if let Some(position) = position {
                let snapshot = position.snapshot()?;
                if !snapshot.is_empty() {
                    state.sources.insert(chain.source_id.clone(), snapshot);
                }
            }
            for (operator, id) in chain.operators.iter_mut().zip(&chain.operator_ids) {
                let snapshot = operator.snapshot().await?;
                if !snapshot.is_empty() {
                    state.operators.insert(id.clone(), snapshot);
                }
            }
        }
        Ok(state)
    }

    /// How long until the next checkpoint is due, with checkpoints at an
    /// interval (not after every batch).
    fn next_checkpoint_in(&self) -> Option<Duration> {
        self.checkpoints
            .as_ref()
            .filter(|c| !c.every.is_zero())
            .map(|c| c.every.saturating_sub(c.last.elapsed()))
    }

    /// Takes a checkpoint if one is due (or `now`, with checkpoints on).
    async fn checkpoint_if_due(&mut self, now: bool) -> Result<()> {
        let due = self
            .checkpoints
            .as_ref()
            .is_some_and(|c| now || c.last.elapsed() >= c.every);
        if !due {
            return Ok(());
        }
        let state = self.snapshot().await?;
        if let Some(checkpoints) = &mut self.checkpoints {
            checkpoints.last = Instant::now();
            // A reader that stopped taking checkpoints is not an error.
            let _ = checkpoints.sender.send(state);
        }
        Ok(())
    }

    /// One line per stage, source first, for EXPLAIN.
    pub fn describe(&self) -> Vec<String> {
        self.describe_stages(false)
    }

    /// As [`Pipeline::describe`], each line ending with what the stage
    /// emits (`changelogMode=[I]` or `[I,UB,UA,D]`, Flink's words), for
    /// EXPLAIN CHANGELOG_MODE.
    pub fn describe_changelog_modes(&self) -> Vec<String> {
        self.describe_stages(true)
    }

    fn describe_stages(&self, modes: bool) -> Vec<String> {
        let many = self.chains.len() > 1;
        let suffix = |mode: ChangelogMode| {
            if modes {
                format!(", changelogMode={}", mode.describe())
            } else {
                String::new()
            }
        };
        let mut lines = Vec::new();
        for (i, chain) in self.chains.iter().enumerate() {
            let prefix = if many {
                format!("stream {}: ", i + 1)
            } else {
                String::new()
            };
            let mut mode = ChangelogMode::InsertOnly;
            lines.push(format!("{prefix}{}{}", chain.description, suffix(mode)));
            for op in &chain.operators {
                mode = op.changelog_mode(mode);
                lines.push(format!("{prefix}{}{}", op.describe(), suffix(mode)));
            }
        }
        lines
    }

    /// What the pipeline emits: updating when any operator's output is.
    pub fn changelog_mode(&self) -> ChangelogMode {
        self.chains
            .iter()
            .map(|chain| {
                chain
                    .operators
                    .iter()
                    .fold(ChangelogMode::InsertOnly, |mode, op| {
                        op.changelog_mode(mode)
                    })
            })
            .fold(ChangelogMode::InsertOnly, ChangelogMode::or)
    }

    /// Starts the pipeline on the Tokio runtime; results arrive on the
    /// returned stream as they are emitted. `schema` is the query's; an
    /// updating pipeline's results have the `op` column in front of it.
    pub fn start(self, schema: SchemaRef) -> QueryStream {
        let schema = match self.changelog_mode() {
            ChangelogMode::InsertOnly => schema,
            ChangelogMode::Updating => changelog::with_op_field(&schema),
        };
        let (sender, receiver) = mpsc::channel::<Result<RecordBatch>>(1);
        let metrics = Arc::clone(&self.metrics);
        let task = SpawnedTask::spawn(async move {
            let run = catch_panic("the streaming pipeline", self.run(&sender));
            if let Err(err) = run.await {
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
                let next = loop {
                    // A source with nothing to read is checkpointed too.
                    let Some(wait) = self.next_checkpoint_in() else {
                        break readers[chain].0.recv().await;
                    };
                    match tokio::time::timeout(wait, readers[chain].0.recv()).await {
                        Ok(next) => break next,
                        Err(_) => self.checkpoint_if_due(false).await?,
                    }
                }
                .transpose()?;
                let taken_in = next.is_some();
                let results = match next {
                    Some((batch, position)) => {
                        // Rows read are counted here, at the source's edge,
                        // for every query (with or without a watermark).
                        self.metrics.add_rows_in(batch.num_rows());
                        still_active.push(chain);
                        self.positions[chain] = position;
                        self.push(chain, Output::batches(vec![batch])).await?
                    }
                    None => self.finish(chain).await?,
                };
                match send_all(sender, results).await {
                    Some(sent) => self.results_sent += sent,
                    None => return Ok(()),
                }
                if taken_in {
                    self.checkpoint_if_due(false).await?;
                }
            }
            active = still_active;
        }
        // The last state: everything read and emitted, so a job restarted
        // after its end writes nothing twice.
        self.checkpoint_if_due(true).await
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
        self.account_state()?;
        Ok(pending.batches)
    }

    /// Counts the operators' state against the memory pool: a state that
    /// outgrows `datafusion.runtime.memory_limit` fails the query, naming
    /// the operator, instead of taking all memory.
    fn account_state(&mut self) -> Result<()> {
        let operators = self.chains.iter().flat_map(|c| c.operators.iter());
        let sizes: Vec<(usize, &dyn Operator)> = operators
            .map(|op| (op.state_bytes(), op.as_ref()))
            .collect();
        let total = sizes.iter().map(|(bytes, _)| bytes).sum();
        if let Err(e) = self.memory.try_resize(total) {
            let (bytes, largest) = sizes
                .iter()
                .max_by_key(|(bytes, _)| *bytes)
                .map(|(bytes, op)| (*bytes, op.describe()))
                .unwrap_or_default();
            return Err(Error::External(format!(
                "resources exhausted: the streaming state needs {} MiB ({} MiB in '{largest}'), \
                 more than the memory pool allows ({}); raise \
                 SET 'datafusion.runtime.memory_limit', or use smaller windows or fewer keys",
                total >> 20,
                bytes >> 20,
                e.strip_backtrace()
            )));
        }
        Ok(())
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

/// Batches read ahead from `source` (at most `READ_AHEAD` waiting), each
/// with the source's position after it, by a task that stops when the
/// receiver is dropped.
#[allow(clippy::type_complexity)]
fn read_ahead(
    mut source: Box<dyn Source>,
) -> (
    mpsc::Receiver<Result<(RecordBatch, Option<Box<dyn SourcePosition>>)>>,
    SpawnedTask<()>,
) {
    let (sender, receiver) = mpsc::channel(READ_AHEAD);
    let task = SpawnedTask::spawn(async move {
        loop {
            let read = catch_panic("the stream's source", source.next_batch());
            let next = read.await.transpose();
            let end = !matches!(next, Some(Ok(_)));
            if let Some(next) = next {
                let next = next.map(|batch| (batch, source.position()));
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

/// Sends every non-empty batch; how many, or `None` when the reader has gone.
async fn send_all(
    sender: &mpsc::Sender<Result<RecordBatch>>,
    batches: Vec<RecordBatch>,
) -> Option<u64> {
    let mut sent = 0;
    for batch in batches.into_iter().filter(|b| b.num_rows() > 0) {
        sender.send(Ok(batch)).await.ok()?;
        sent += 1;
    }
    Some(sent)
}
