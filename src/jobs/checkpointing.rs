//! A checkpointed job's checkpoints: the pipeline's states, written once
//! the sink has prepared the output before them, then published.

use std::time::{Instant, SystemTime};

use tokio::sync::mpsc;

use super::info::CheckpointInfo;
use crate::checkpoint::{CheckpointStore, QueryState};
use crate::connectors::sink::Sink;
use crate::error::Result;

/// Where a checkpointed job's checkpoints go, and its pipeline's states.
pub(crate) struct Checkpointing {
    /// The job's checkpoints.
    pub store: CheckpointStore,
    /// What its checkpoints belong to (see [`CheckpointStore::write`]).
    pub query: String,
    /// The pipeline's states, as it takes them.
    pub states: mpsc::UnboundedReceiver<QueryState>,
    /// The number of the next checkpoint.
    pub next_id: u64,
    /// What restoring found (damaged checkpoints passed over).
    pub warnings: Vec<String>,
}

impl Checkpointing {
    /// Writes `state` once the sink has prepared its output, then publishes
    /// that output.
    pub(super) async fn write(
        &mut self,
        mut state: QueryState,
        sink: &mut dyn Sink,
    ) -> Result<CheckpointInfo> {
        let started = Instant::now();
        state.sink = sink.pre_commit().await?;
        let id = self.next_id;
        let bytes = self.store.write(id, &self.query, &state).await?;
        self.next_id += 1;
        sink.commit().await?;
        Ok(CheckpointInfo {
            id,
            at: SystemTime::now(),
            duration: started.elapsed(),
            bytes,
        })
    }
}

/// The next state of a checkpointed job's pipeline; never, for others.
pub(super) async fn next_state(checkpointing: &mut Option<Checkpointing>) -> Option<QueryState> {
    match checkpointing {
        Some(c) => c.states.recv().await,
        None => std::future::pending().await,
    }
}
