//! `Pipeline`: stream sources and the chains of operators their batches go
//! through, run as one task whose results flow into a [`QueryStream`] as
//! they are emitted.
//!
//! A pipeline is a tree of [`Stage`]s. A leaf is a source and its chain of
//! operators; an inner stage's chain is fed by the stages below it, one
//! input per side (a join's two sides, or the streams of a UNION ALL under
//! a window), its first operator told which side each batch comes from. The
//! roots' results are the query's (several for a UNION ALL).
//!
//! ```text
//!  source A ─ watermark ─ ...  ─┐ side 0
//!                               ├─▶ window join ─ ... ─▶ results
//!  source B ─ watermark ─ ...  ─┘ side 1     watermark = min(A, B)
//! ```
//!
//! An operator's output (batches, then a risen watermark) is the next one's
//! input. An inner stage's watermark is the minimum of its inputs' (an
//! ended input no longer holds it back; with
//! `table.exec.source.idle-timeout`, neither does one whose sources have
//! sent nothing for that long). When a source ends, its chain is told, and
//! a stage whose inputs have all ended is told in turn, so open windows are
//! emitted. The results channel holds one batch: a slow reader slows the
//! pipeline instead of piling up results. Dropping the `QueryStream` aborts
//! the task.
//!
//! A window on processing time (`PROCTIME()`) has a clock operator before
//! it; the pipeline ticks every such operator every
//! [`processing_time::TICK`], whether batches come or not, so the window
//! closes when the wall clock passes its end.
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

use crate::changelog::{self, ChangelogMode, RowKind};
use crate::checkpoint::QueryState;
use crate::connectors::source::{Source, SourcePosition};
use crate::error::{catch_panic, Error, Result};
use crate::metrics::StreamMetrics;
use crate::operators::processing_time::{wall_clock, TICK};
use crate::operators::{Operator, Output};
use crate::results::QueryStream;

/// A chain of operators and what feeds it: a source, or (in an inner
/// [`Stage`]) the stages below.
pub struct Chain {
    /// One line for EXPLAIN describing the source (or, fed by other
    /// stages, what joins them).
    pub description: String,
    /// The source's definition, part of what a checkpoint belongs to: a
    /// redefined table does not resume another definition's checkpoint.
    /// Empty for a chain fed by other stages.
    pub definition: String,
    /// Where batches come from (`None` when the pipeline is only described,
    /// and for a chain fed by other stages).
    pub source: Option<Box<dyn Source>>,
    /// The operators, in order.
    pub operators: Vec<Box<dyn Operator>>,
    /// The id the source's position is checkpointed under (chosen by the
    /// planner: stable across runs of the same query).
    pub source_id: String,
    /// Per operator, the id its state is checkpointed under.
    pub operator_ids: Vec<String>,
}

/// A chain and, for an inner stage, the stages feeding each of its sides.
pub struct Stage {
    /// Its operators (and, for a leaf, its source).
    pub chain: Chain,
    /// Per side, the stages whose results it takes (several for a UNION
    /// ALL); empty for a source's chain.
    pub sides: Vec<Vec<Stage>>,
}

impl Stage {
    /// The stage of a source and its chain.
    pub fn source(chain: Chain) -> Self {
        Stage {
            chain,
            sides: Vec::new(),
        }
    }

    /// A stage whose chain takes the results of `sides`, side by side.
    pub fn fed(chain: Chain, sides: Vec<Vec<Stage>>) -> Self {
        Stage { chain, sides }
    }

    /// What the stage emits: its operators' changes over what its sides
    /// give (appended rows from a source).
    pub fn changelog_mode(&self) -> ChangelogMode {
        let given = self
            .sides
            .iter()
            .flatten()
            .map(Stage::changelog_mode)
            .fold(ChangelogMode::InsertOnly, ChangelogMode::or);
        self.chain
            .operators
            .iter()
            .fold(given, |mode, op| op.changelog_mode(mode))
    }
}

/// The stages of one query, run as one task.
pub struct Pipeline {
    /// Every stage's chain, each after the stages feeding it.
    nodes: Vec<Node>,
    metrics: Arc<StreamMetrics>,
    /// The operators' state, counted against DataFusion's memory pool
    /// (`datafusion.runtime.memory_limit`).
    memory: MemoryReservation,
    /// Result batches sent so far.
    results_sent: u64,
    checkpoints: Option<Checkpoints>,
    /// `table.exec.source.idle-timeout`: how long a source may send nothing
    /// before it no longer holds back the watermark of the stages above it.
    idle_timeout: Option<Duration>,
    /// When the clocks of processing-time windows were last ticked; `None`
    /// when the query has none.
    last_tick: Option<Instant>,
}

/// One stage's chain in the pipeline.
struct Node {
    chain: Chain,
    /// `stream 2`, or `streams 1, 2` for a stage fed by them: EXPLAIN's
    /// prefix.
    label: String,
    downstream: Downstream,
    /// For a chain fed by other stages, one per stage feeding it.
    inputs: Vec<Input>,
    /// The watermark last passed to the chain (of a chain fed by others).
    watermark: Option<i64>,
    /// Where the source stood after the last batch taken in (`None` for a
    /// source that cannot be replayed, or before any).
    position: Option<Box<dyn SourcePosition>>,
    /// When the source last sent a batch.
    last_batch: Instant,
}

/// Where a chain's results go.
#[derive(Debug, Clone, Copy)]
enum Downstream {
    Results,
    /// Input `input` of node `node`.
    Input {
        node: usize,
        input: usize,
    },
}

/// A stage feeding another.
struct Input {
    /// Which of the fed chain's sides it is.
    side: usize,
    /// The nodes of the sources under it.
    sources: Vec<usize>,
    /// Its latest watermark.
    watermark: Option<i64>,
    ended: bool,
}

/// When to take checkpoints and where they go.
struct Checkpoints {
    every: Duration,
    last: Instant,
    sender: mpsc::UnboundedSender<QueryState>,
}

impl Pipeline {
    /// A pipeline whose results are those of `roots` (several for a UNION
    /// ALL), counting into `metrics`, its state held in `pool`. Checkpoint
    /// ids are made unique here (`#2`, `#3` for a stream read more than
    /// once), in plan order, so the same query gives the same ids at every
    /// run.
    pub fn new(roots: Vec<Stage>, metrics: Arc<StreamMetrics>, pool: &Arc<dyn MemoryPool>) -> Self {
        let mut nodes = Vec::new();
        for root in roots {
            flatten(root, &mut nodes);
        }
        label(&mut nodes);
        unique_ids(&mut nodes);
        Pipeline {
            nodes,
            metrics,
            memory: MemoryConsumer::new("flowsql streaming state").register(pool),
            results_sent: 0,
            checkpoints: None,
            idle_timeout: None,
            last_tick: None,
        }
        .with_clocks()
    }

    /// Lets a source that has sent nothing for `timeout` stop holding back
    /// the watermark of the stages it feeds (Flink's
    /// `table.exec.source.idle-timeout`).
    pub fn idle_timeout(&mut self, timeout: Duration) {
        self.idle_timeout = Some(timeout);
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

    /// The definitions of the tables the sources read, one per line.
    pub fn definitions(&self) -> String {
        let lines: Vec<&str> = self
            .sources()
            .map(|n| self.nodes[n].chain.definition.as_str())
            .collect();
        lines.join("\n")
    }

    /// The nodes that read a source.
    fn sources(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|n| self.nodes[*n].inputs.is_empty())
    }

    /// Goes on from `state`, a checkpoint of the same query: sources read on
    /// from where it was taken and operators hold what they held then.
    pub fn restore(&mut self, mut state: QueryState) -> Result<()> {
        for node in &mut self.nodes {
            let chain = &mut node.chain;
            if node.inputs.is_empty() {
                let source = state.sources.remove(&chain.source_id).unwrap_or_default();
                if let Some(reader) = &mut chain.source {
                    reader.resume(source)?;
                    node.position = reader.position();
                }
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
        for node in &mut self.nodes {
            if let Some(position) = &node.position {
                let snapshot = position.snapshot()?;
                if !snapshot.is_empty() {
                    state.sources.insert(node.chain.source_id.clone(), snapshot);
                }
            }
            let chain = &mut node.chain;
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
        let many = self.nodes.len() > 1;
        let suffix = |mode: ChangelogMode| {
            if modes {
                format!(", changelogMode={}", mode.describe())
            } else {
                String::new()
            }
        };
        let mut lines = Vec::new();
        let inputs = self.input_modes();
        for (node, mut mode) in self.nodes.iter().zip(inputs) {
            let prefix = if many {
                format!("{}: ", node.label)
            } else {
                String::new()
            };
            let chain = &node.chain;
            lines.push(format!("{prefix}{}{}", chain.description, suffix(mode)));
            for op in &chain.operators {
                mode = op.changelog_mode(mode);
                lines.push(format!("{prefix}{}{}", op.describe(), suffix(mode)));
            }
        }
        lines
    }

    /// Per node, what its chain is given: insert-only from a source,
    /// updating when any stage feeding it emits updates.
    fn input_modes(&self) -> Vec<ChangelogMode> {
        let mut given = vec![ChangelogMode::InsertOnly; self.nodes.len()];
        // Each node comes after the nodes feeding it.
        for (n, node) in self.nodes.iter().enumerate() {
            let emits = node
                .chain
                .operators
                .iter()
                .fold(given[n], |mode, op| op.changelog_mode(mode));
            if let Downstream::Input { node: fed, .. } = node.downstream {
                given[fed] = given[fed].or(emits);
            }
        }
        given
    }

    /// What the pipeline emits: updating when any root's output is.
    pub fn changelog_mode(&self) -> ChangelogMode {
        let given = self.input_modes();
        self.nodes
            .iter()
            .zip(given)
            .filter(|(node, _)| matches!(node.downstream, Downstream::Results))
            .map(|(node, mode)| {
                node.chain
                    .operators
                    .iter()
                    .fold(mode, |mode, op| op.changelog_mode(mode))
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
        let results = Results {
            sender,
            schema: Arc::clone(&schema),
        };
        let task = SpawnedTask::spawn(async move {
            let run = catch_panic("the streaming pipeline", self.run(&results));
            if let Err(err) = run.await {
                let _ = results.sender.send(Err(err)).await;
            }
        });
        QueryStream::from_task(schema, receiver, task, Some(metrics))
    }

    /// Starts ticking when some operator keeps processing time.
    fn with_clocks(mut self) -> Self {
        let mut operators = self.nodes.iter().flat_map(|n| n.chain.operators.iter());
        if operators.any(|op| op.keeps_processing_time()) {
            self.last_tick = Some(Instant::now());
        }
        self
    }

    /// Runs until every source ends or the reader goes away. Each source is
    /// read ahead by a task of its own, so reading and decoding overlap with
    /// the operators' work; batches are taken in as they arrive, from the
    /// sources in turn when several have one (so no stream runs far ahead
    /// of another a join holds rows for), never waiting on a quiet one.
    async fn run(mut self, results: &Results) -> Result<()> {
        let sources: Vec<usize> = self.sources().collect();
        let mut readers = Readers {
            readers: Vec::with_capacity(sources.len()),
            next: 0,
        };
        for &node in &sources {
            let source = self.nodes[node]
                .chain
                .source
                .take()
                .ok_or_else(|| Error::Internal("a described pipeline was started".into()))?;
            let (receiver, task) = read_ahead(source);
            readers.readers.push(Reader {
                node,
                receiver,
                done: false,
                _task: task,
            });
        }
        let mut open = readers.readers.len();
        while open > 0 {
            let next = loop {
                // A source with nothing to read is checkpointed too, and
                // idle sources are let go of.
                let wait = [
                    self.next_checkpoint_in(),
                    self.idle_check_in(),
                    self.tick_in(),
                ]
                .into_iter()
                .flatten()
                .min();
                let Some(wait) = wait else {
                    break readers.next().await;
                };
                match tokio::time::timeout(wait, readers.next()).await {
                    Ok(next) => break next,
                    Err(_) => {
                        self.checkpoint_if_due(false).await?;
                        let mut released = self.release_idle().await?;
                        released.extend(self.tick_if_due().await?);
                        if !self.send(results, released).await {
                            return Ok(());
                        }
                    }
                }
            };
            let Some((node, read)) = next else {
                return Err(Error::Internal("the sources' readers stopped early".into()));
            };
            let out = match read? {
                Some((batch, position)) => {
                    // Rows read are counted here, at the source's edge,
                    // for every query (with or without a watermark).
                    self.metrics.add_rows_in(batch.num_rows());
                    let source = &mut self.nodes[node];
                    source.position = position;
                    source.last_batch = Instant::now();
                    let mut out = self
                        .push(node, 0, None, Output::batches(vec![batch]))
                        .await?;
                    // A busy source does not keep another's windows open.
                    out.extend(self.tick_if_due().await?);
                    if !self.send(results, out).await {
                        return Ok(());
                    }
                    self.checkpoint_if_due(false).await?;
                    continue;
                }
                None => self.finish(node).await?,
            };
            open -= 1;
            if !self.send(results, out).await {
                return Ok(());
            }
        }
        // The last state: everything read and emitted, so a job restarted
        // after its end writes nothing twice.
        self.checkpoint_if_due(true).await
    }

    /// Sends `batches` to the reader; false when it has gone.
    async fn send(&mut self, results: &Results, batches: Vec<RecordBatch>) -> bool {
        match results.send_all(batches).await {
            Some(sent) => {
                self.results_sent += sent;
                true
            }
            None => false,
        }
    }

    /// Passes `input` through the chain of node `at` from its operator
    /// `from` on (its first operator told the side, in a chain fed by
    /// others), then through every stage above it; returns what reaches the
    /// results.
    async fn push(
        &mut self,
        mut at: usize,
        mut from: usize,
        mut side: Option<usize>,
        mut input: Output,
    ) -> Result<Vec<RecordBatch>> {
        loop {
            let output = self.run_chain(at, from, side, input).await?;
            from = 0;
            match self.nodes[at].downstream {
                Downstream::Results => {
                    self.account_state()?;
                    return Ok(output.batches);
                }
                Downstream::Input { node, input: slot } => {
                    side = Some(self.nodes[node].inputs[slot].side);
                    input = Output {
                        watermark: self.raise(node, slot, output.watermark),
                        batches: output.batches,
                    };
                    at = node;
                }
            }
        }
    }

    /// Runs `input` through node `at`'s operators from operator `from` on.
    async fn run_chain(
        &mut self,
        at: usize,
        from: usize,
        side: Option<usize>,
        input: Output,
    ) -> Result<Output> {
        if input.batches.is_empty() && input.watermark.is_none() {
            return Ok(Output::default());
        }
        let mut pending = input;
        let operators = self.nodes[at].chain.operators.iter_mut().enumerate();
        for (i, operator) in operators.skip(from) {
            let mut next = Output::default();
            for batch in pending.batches {
                let out = match side {
                    Some(side) if i == 0 => operator.process_input(side, batch).await?,
                    _ => operator.process_batch(batch).await?,
                };
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
        Ok(pending)
    }

    /// Input `slot` of node `node` reached `watermark` (if any): the node's
    /// new watermark, when the minimum of its inputs rose.
    fn raise(&mut self, node: usize, slot: usize, watermark: Option<i64>) -> Option<i64> {
        if let Some(watermark) = watermark {
            let input = &mut self.nodes[node].inputs[slot];
            input.watermark = input.watermark.max(Some(watermark));
        }
        let combined = self.combined_watermark(node)?;
        let fed = &mut self.nodes[node];
        if fed.watermark.is_some_and(|w| w >= combined) {
            return None;
        }
        fed.watermark = Some(combined);
        Some(combined)
    }

    /// Node `node`'s watermark: the minimum of its inputs' that have not
    /// ended nor gone idle (`None` while one of them has none yet). An ended
    /// input no longer holds the others back; when only idle inputs are
    /// left, the highest watermark an ended input reached passes.
    fn combined_watermark(&self, node: usize) -> Option<i64> {
        let inputs = &self.nodes[node].inputs;
        let idle = |input: &Input| {
            self.idle_timeout.is_some_and(|timeout| {
                input
                    .sources
                    .iter()
                    .all(|s| self.nodes[*s].last_batch.elapsed() >= timeout)
            })
        };
        let live = || inputs.iter().filter(|i| !i.ended);
        let awake: Vec<&Input> = live().filter(|i| !idle(i)).collect();
        if !awake.is_empty() {
            let watermarks: Option<Vec<i64>> = awake.iter().map(|i| i.watermark).collect();
            return watermarks?.into_iter().min();
        }
        let ended = inputs
            .iter()
            .filter(|i| i.ended)
            .filter_map(|i| i.watermark);
        if let Some(highest) = ended.max() {
            return Some(highest);
        }
        let watermarks: Option<Vec<i64>> = live().map(|i| i.watermark).collect();
        watermarks?.into_iter().min()
    }

    /// How long to wait for a batch before looking for idle sources.
    fn idle_check_in(&self) -> Option<Duration> {
        let fed = self.nodes.iter().any(|n| !n.inputs.is_empty());
        self.idle_timeout
            .filter(|_| fed)
            .map(|t| (t / 2).max(Duration::from_millis(10)))
    }

    /// How long until the clocks of processing-time windows are due a tick.
    fn tick_in(&self) -> Option<Duration> {
        self.last_tick
            .map(|last| TICK.saturating_sub(last.elapsed()))
    }

    /// Tells every operator that keeps processing time the wall clock, once
    /// a [`TICK`] has passed, and passes what they emit on.
    async fn tick_if_due(&mut self) -> Result<Vec<RecordBatch>> {
        let mut results = Vec::new();
        if self.tick_in() != Some(Duration::ZERO) {
            return Ok(results);
        }
        self.last_tick = Some(Instant::now());
        let clock = wall_clock();
        for node in 0..self.nodes.len() {
            for i in 0..self.nodes[node].chain.operators.len() {
                let operator = &mut self.nodes[node].chain.operators[i];
                if !operator.keeps_processing_time() {
                    continue;
                }
                let out = operator.on_tick(clock).await?;
                results.extend(self.push(node, i + 1, None, out).await?);
            }
        }
        Ok(results)
    }

    /// Passes on the watermarks that sources gone idle no longer hold back.
    async fn release_idle(&mut self) -> Result<Vec<RecordBatch>> {
        let mut results = Vec::new();
        if self.idle_timeout.is_none() {
            return Ok(results);
        }
        for node in 0..self.nodes.len() {
            if self.nodes[node].inputs.is_empty() {
                continue;
            }
            if let Some(watermark) = self.raise(node, 0, None) {
                let input = Output {
                    batches: Vec::new(),
                    watermark: Some(watermark),
                };
                results.extend(self.push(node, 0, None, input).await?);
            }
        }
        Ok(results)
    }

    /// Counts the operators' state against the memory pool: a state that
    /// outgrows `datafusion.runtime.memory_limit` fails the query, naming
    /// the operator, instead of taking all memory.
    fn account_state(&mut self) -> Result<()> {
        let operators = self.nodes.iter().flat_map(|n| n.chain.operators.iter());
        let open = operators.clone().map(|op| op.open_windows()).sum();
        self.metrics.record_open_windows(open);
        let held = operators.clone().map(|op| op.held_rows()).sum();
        self.metrics.record_held_rows(held);
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

    /// Ends node `node`'s input: each operator emits what it holds, in
    /// order; a stage all of whose inputs have ended ends in turn.
    async fn finish(&mut self, node: usize) -> Result<Vec<RecordBatch>> {
        let mut results = Vec::new();
        let mut at = node;
        loop {
            let carried = self.end_chain(at).await?;
            let Downstream::Input { node: fed, input } = self.nodes[at].downstream else {
                results.extend(carried);
                self.account_state()?;
                return Ok(results);
            };
            let side = Some(self.nodes[fed].inputs[input].side);
            results.extend(self.push(fed, 0, side, Output::batches(carried)).await?);
            self.nodes[fed].inputs[input].ended = true;
            if self.nodes[fed].inputs.iter().all(|i| i.ended) {
                at = fed;
                continue;
            }
            // The inputs left may now let their watermark through.
            let rest = Output {
                batches: Vec::new(),
                watermark: self.raise(fed, input, None),
            };
            results.extend(self.push(fed, 0, side, rest).await?);
            return Ok(results);
        }
    }

    /// What node `at`'s operators emit as its input ends.
    async fn end_chain(&mut self, at: usize) -> Result<Vec<RecordBatch>> {
        let mut carried = Vec::new();
        for operator in &mut self.nodes[at].chain.operators {
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

/// Adds `stage` and the stages feeding it to `nodes`, feeders first;
/// returns its node and the source nodes under it.
fn flatten(stage: Stage, nodes: &mut Vec<Node>) -> (usize, Vec<usize>) {
    let mut inputs = Vec::new();
    let mut fed_by = Vec::new();
    let mut sources = Vec::new();
    for (side, stages) in stage.sides.into_iter().enumerate() {
        for feeder in stages {
            let (node, under) = flatten(feeder, nodes);
            sources.extend(&under);
            fed_by.push(node);
            inputs.push(Input {
                side,
                sources: under,
                watermark: None,
                ended: false,
            });
        }
    }
    let index = nodes.len();
    for (slot, feeder) in fed_by.into_iter().enumerate() {
        nodes[feeder].downstream = Downstream::Input {
            node: index,
            input: slot,
        };
    }
    if inputs.is_empty() {
        sources.push(index);
    }
    nodes.push(Node {
        chain: stage.chain,
        label: String::new(),
        downstream: Downstream::Results,
        inputs,
        watermark: None,
        position: None,
        last_batch: Instant::now(),
    });
    (index, sources)
}

/// Names each node for EXPLAIN: sources `stream 1`, `stream 2`, in plan
/// order; a stage fed by others after the streams under it.
fn label(nodes: &mut [Node]) {
    let mut numbers = vec![0; nodes.len()];
    let mut next = 0;
    for n in 0..nodes.len() {
        if nodes[n].inputs.is_empty() {
            next += 1;
            numbers[n] = next;
            nodes[n].label = format!("stream {next}");
        } else {
            let streams: Vec<String> = nodes[n]
                .inputs
                .iter()
                .flat_map(|i| i.sources.iter().map(|s| numbers[*s].to_string()))
                .collect();
            nodes[n].label = format!("streams {}", streams.join(", "));
        }
    }
}

/// Makes the checkpoint ids of the nodes' chains unique (`<stream>/<operator>`,
/// then `#2`, `#3` for a stream read more than once), in plan order.
fn unique_ids(nodes: &mut [Node]) {
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    let mut unique = |id: &mut String| {
        let count = seen.entry(id.clone()).or_default();
        *count += 1;
        if *count > 1 {
            *id = format!("{id}#{count}");
        }
    };
    for node in nodes {
        if node.inputs.is_empty() {
            unique(&mut node.chain.source_id);
        }
        node.chain.operator_ids.iter_mut().for_each(&mut unique);
    }
}

/// What a source's reader sends: a batch with the source's position after
/// it, then `None` at the end (or an error).
type Read = Result<Option<(RecordBatch, Option<Box<dyn SourcePosition>>)>>;

/// Reads `source` ahead (at most `READ_AHEAD` batches waiting) by a task of
/// its own, which stops when the receiver is dropped.
fn read_ahead(mut source: Box<dyn Source>) -> (mpsc::Receiver<Read>, SpawnedTask<()>) {
    let (sender, receiver) = mpsc::channel(READ_AHEAD);
    let task = SpawnedTask::spawn(async move {
        loop {
            let read = catch_panic("the stream's source", source.next_batch());
            let next = read.await.transpose();
            let end = !matches!(next, Some(Ok(_)));
            let next = next
                .transpose()
                .map(|batch| batch.map(|batch| (batch, source.position())));
            if sender.send(next).await.is_err() || end {
                return;
            }
        }
    });
    (receiver, task)
}

/// The sources' readers, taken from in turn.
struct Readers {
    readers: Vec<Reader>,
    /// Whose turn is first next time.
    next: usize,
}

struct Reader {
    node: usize,
    receiver: mpsc::Receiver<Read>,
    /// It sent its end (or an error).
    done: bool,
    _task: SpawnedTask<()>,
}

impl Readers {
    /// The next read of any source (with the source's node): the first
    /// with one ready, starting after the one served last; `None` once
    /// every source has ended.
    async fn next(&mut self) -> Option<(usize, Read)> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<(usize, Read)>> {
        use std::task::Poll;
        let count = self.readers.len();
        let mut open = false;
        for turn in 0..count {
            let i = (self.next + turn) % count;
            let reader = &mut self.readers[i];
            if reader.done {
                continue;
            }
            open = true;
            let read = match reader.receiver.poll_recv(cx) {
                Poll::Pending => continue,
                Poll::Ready(Some(read)) => read,
                Poll::Ready(None) => Err(Error::Internal("a source's reader stopped early".into())),
            };
            reader.done = !matches!(read, Ok(Some(_)));
            self.next = (i + 1) % count;
            return Poll::Ready(Some((reader.node, read)));
        }
        match open {
            true => Poll::Pending,
            false => Poll::Ready(None),
        }
    }
}

/// Batches a source may read ahead of the operators.
const READ_AHEAD: usize = 2;

/// Where the query's results go, and their schema.
struct Results {
    sender: mpsc::Sender<Result<RecordBatch>>,
    schema: SchemaRef,
}

impl Results {
    /// Sends every non-empty batch; how many, or `None` when the reader has
    /// gone.
    async fn send_all(&self, batches: Vec<RecordBatch>) -> Option<u64> {
        let mut sent = 0;
        for batch in batches.into_iter().filter(|b| b.num_rows() > 0) {
            let batch = self.conform(batch);
            self.sender.send(batch).await.ok()?;
            sent += 1;
        }
        Some(sent)
    }

    /// `batch` under the query's schema: each branch of a UNION ALL emits
    /// its own field names (and an insert-only branch beside an updating
    /// one, no `op` column).
    fn conform(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let schema = batch.schema();
        if Arc::ptr_eq(&schema, &self.schema) || schema.fields() == self.schema.fields() {
            return Ok(batch);
        }
        let batch = if schema.fields().len() + 1 == self.schema.fields().len()
            && changelog::is_changelog(&self.schema)
        {
            changelog::with_kind(&batch, RowKind::Insert)?
        } else {
            batch
        };
        RecordBatch::try_new(Arc::clone(&self.schema), batch.columns().to_vec()).map_err(|e| {
            Error::Internal(format!(
                "a result batch does not fit the query's schema: {e}"
            ))
        })
    }
}
