//! What `SHOW JOBS` knows of a job: its state, counters and last checkpoint.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::metrics::StreamMetrics;

/// Where a job is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Reading and writing.
    Running,
    /// Its input ended and the sink was finished.
    Finished,
    /// Stopped by `STOP JOB` (the sink was finished).
    Stopped,
    /// Failed with this error (the sink was finished).
    Failed(String),
}

impl JobState {
    /// `RUNNING`, `FINISHED`, `STOPPED` or `FAILED`.
    pub fn name(&self) -> &'static str {
        match self {
            JobState::Running => "RUNNING",
            JobState::Finished => "FINISHED",
            JobState::Stopped => "STOPPED",
            JobState::Failed(_) => "FAILED",
        }
    }
}

/// What `SHOW JOBS` shows of one job.
#[derive(Debug, Clone)]
pub struct JobInfo {
    /// The job's number.
    pub id: u64,
    /// The job's name (`pipeline.name`), when it was given one.
    pub name: Option<String>,
    /// The INSERT statement.
    pub query: String,
    /// Its state.
    pub state: JobState,
    /// Rows written to the sink.
    pub rows_out: u64,
    /// The streaming counters (rows in, late, malformed, watermark), for a
    /// job over a stream.
    pub metrics: Option<Arc<StreamMetrics>>,
    /// When it started.
    pub started: Instant,
    /// Its last checkpoint.
    pub last_checkpoint: Option<CheckpointInfo>,
    /// What restoring its checkpoint found (damaged checkpoints passed over).
    pub warnings: Vec<String>,
}

/// What `SHOW JOBS` shows of a job's last checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointInfo {
    /// Its number.
    pub id: u64,
    /// When it was complete.
    pub at: SystemTime,
    /// How long the sink's preparation, writing and publishing took.
    pub duration: Duration,
    /// Its size.
    pub bytes: u64,
}
