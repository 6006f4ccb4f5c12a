//! Incremental operators: one per file, all of one shape, [`Operator`].
//!
//! A streaming query runs as a chain of operators fed by a source. Each
//! operator takes record batches and returns what it passes downstream;
//! watermarks flow the same way. The hooks other than `process_batch`
//! default to doing nothing, so a stateless operator is one method.
//!
//! ```text
//! source -> watermark -> window / session / per-batch plan [-> distinct] -> results
//! ```
//!
//! Operators run parts of the query's own plan over the rows they emit:
//! [`emission`] is that plan, [`emission_source`] the table that feeds it.
//!
//! Operators are single-threaded and own their state; [`partitioned`]
//! runs several instances of one, each holding the keys that hash to it
//! (Flink's parallelism at the exchange), without changing it.

pub mod columnar_aggregate;
pub mod distinct;
pub mod emission;
pub mod emission_source;
pub mod group_aggregate;
pub mod held_rows;
pub mod join_rows;
pub mod lookup_join;
pub mod over_aggregate;
// The shape for running one operator on several cores; tested, not yet
// chosen by the planner.
#[cfg_attr(not(test), allow(dead_code))]
pub mod partitioned;
pub mod per_batch;
pub mod processing_time;
pub mod row_bytes;
pub mod session_window;
pub mod sliced_window;
pub mod stream_join;
pub mod temporal_join;
pub mod top_n;
pub mod watermark;
pub mod window_aggregate;

#[cfg(test)]
mod testing;

use datafusion::arrow::record_batch::RecordBatch;

use crate::changelog::ChangelogMode;
use crate::checkpoint::Snapshot;
use crate::error::{Error, Result};

/// What an operator passes downstream after one call.
#[derive(Debug, Default)]
pub struct Output {
    /// Batches for the next operator (or the query's results, for the last).
    pub batches: Vec<RecordBatch>,
    /// A new, higher watermark (event-time milliseconds), if there is one.
    pub watermark: Option<i64>,
}

impl Output {
    /// Output of just these batches.
    pub fn batches(batches: Vec<RecordBatch>) -> Self {
        Output {
            batches,
            watermark: None,
        }
    }
}

/// An incremental operator.
#[async_trait::async_trait]
pub trait Operator: Send {
    /// What kind of operator it is, in a word (`watermark`, `window`):
    /// part of the id its checkpoint is kept under.
    fn name(&self) -> &'static str;

    /// One line for EXPLAIN: what the operator does.
    fn describe(&self) -> String;

    /// Takes one batch.
    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output>;

    /// Takes one batch from side `side` of an operator fed by several
    /// stages (a join's sides, the streams of a UNION ALL under a window);
    /// by default as [`Operator::process_batch`], every side alike.
    async fn process_input(&mut self, side: usize, batch: RecordBatch) -> Result<Output> {
        let _ = side;
        self.process_batch(batch).await
    }

    /// The watermark rose to `watermark`: event time up to it is complete.
    /// By default the watermark is passed on.
    async fn on_watermark(&mut self, watermark: i64) -> Result<Output> {
        Ok(Output {
            batches: vec![],
            watermark: Some(watermark),
        })
    }

    /// The input ended: emit everything still held.
    async fn on_end_of_input(&mut self) -> Result<Output> {
        Ok(Output::default())
    }

    /// The wall clock reached `clock` (milliseconds since the epoch, UTC):
    /// an operator that keeps processing time is told every
    /// [`processing_time::TICK`] while the query runs. By default nothing.
    async fn on_tick(&mut self, clock: i64) -> Result<Output> {
        let _ = clock;
        Ok(Output::default())
    }

    /// True when the operator keeps processing time (the clock of a window
    /// on `PROCTIME()`): the pipeline ticks it, and the operators after it
    /// need no event time.
    fn keeps_processing_time(&self) -> bool {
        false
    }

    /// How many windows or sessions the operator holds open (its state).
    fn open_windows(&self) -> usize {
        0
    }

    /// How many input rows it holds as state (a join's sides, a window's
    /// rows), shown in `SHOW JOBS`.
    fn held_rows(&self) -> usize {
        0
    }

    /// Roughly how many bytes of memory its state takes (held rows, partial
    /// aggregates, rows seen), counted against DataFusion's memory pool.
    fn state_bytes(&self) -> usize {
        0
    }

    /// What the operator emits given an input of mode `input`: by default
    /// what it is given (a per-row operator passes updates through).
    fn changelog_mode(&self, input: ChangelogMode) -> ChangelogMode {
        input
    }

    /// True when the operator needs watermarks (windows do; per-batch work
    /// does not).
    fn needs_watermark(&self) -> bool {
        true
    }

    /// Everything the operator holds, after every batch given to it so far
    /// has been taken in (a checkpoint). A stateless operator holds nothing.
    async fn snapshot(&mut self) -> Result<Snapshot> {
        Ok(Snapshot::default())
    }

    /// Takes back the state of a [`Operator::snapshot`] of the same query,
    /// before any batch.
    fn restore(&mut self, snapshot: Snapshot) -> Result<()> {
        if snapshot.is_empty() {
            Ok(())
        } else {
            Err(Error::query(format!(
                "the checkpoint holds state for '{}', which keeps none; \
                 it was taken by a different query",
                self.describe()
            )))
        }
    }
}
