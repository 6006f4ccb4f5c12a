//! `Sink`: where `INSERT INTO` sends a query's rows.
//!
//! One sink per file, all of one shape: a [`Sink`] takes batches and is
//! finished once, which flushes and publishes what it wrote. A sink table
//! is declared like any connector table; [`super::ConnectorTable::open_sink`] makes
//! the writer for it.

use datafusion::arrow::record_batch::RecordBatch;

use crate::checkpoint::Snapshot;
use crate::error::Result;

/// Writes a job's result rows somewhere.
#[async_trait::async_trait]
pub trait Sink: Send {
    /// Takes one batch.
    async fn write(&mut self, batch: &RecordBatch) -> Result<()>;

    /// Flushes and publishes everything written; called once, also when the
    /// job is stopped.
    async fn finish(&mut self) -> Result<()>;

    /// A checkpoint is being taken: makes everything written so far durable
    /// but not yet visible, and returns what [`Sink::recover`] needs to make
    /// it visible after a crash. Sinks that cannot hold output back (print,
    /// TCP) are at-least-once: they return nothing.
    async fn pre_commit(&mut self) -> Result<Snapshot> {
        Ok(Snapshot::default())
    }

    /// The checkpoint is complete: makes what [`Sink::pre_commit`] prepared
    /// visible.
    async fn commit(&mut self) -> Result<()> {
        Ok(())
    }

    /// The job restarts from a checkpoint whose [`Sink::pre_commit`] gave
    /// `state`: makes that output visible and discards what was written
    /// after it (it is written again).
    async fn recover(&mut self, state: Snapshot) -> Result<()> {
        let _ = state;
        Ok(())
    }

    /// Stops without publishing what no checkpoint covers (a checkpointed
    /// job that is stopped or fails: a restart writes it again).
    async fn abort(&mut self) -> Result<()> {
        self.finish().await
    }

    /// What went wrong without failing the job since the last call (a
    /// reader dropped), for `SHOW JOBS`.
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }
}
