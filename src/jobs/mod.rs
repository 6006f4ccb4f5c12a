//! Continuous jobs: `INSERT INTO sink SELECT ...` runs in the background,
//! writing the query's rows into a sink, until its input ends or it is
//! stopped. [`Jobs`] keeps every job of an engine for `SHOW JOBS` and
//! `STOP JOB`.
//!
//! ```text
//! QueryStream ──batches──▶ job task ──▶ Sink::write ... Sink::finish (always: flushed and published)
//!                             ▲ stop signal (STOP JOB, end of script)
//! ```
//!
//! A checkpointed job (`SET 'execution.checkpointing.interval'`) also gets
//! its pipeline's states. A state is written once every result batch before
//! it has reached the sink: the sink prepares that output
//! (`Sink::pre_commit`), the checkpoint is written with the sink's part,
//! and then the sink publishes it (`Sink::commit`). A stopped or failed
//! checkpointed job publishes nothing more (`Sink::abort`); restarted
//! under its name, it goes on from its last checkpoint.
//!
//! - `registry.rs`: [`Jobs`], the task of each job;
//! - `checkpointing.rs`: `Checkpointing`, a job's checkpoints;
//! - `info.rs`: [`JobInfo`], what is known of a job; `show.rs`: `SHOW JOBS`.

mod checkpointing;
mod info;
mod registry;
mod show;

pub(crate) use checkpointing::Checkpointing;
pub use info::{CheckpointInfo, JobInfo, JobState};
pub use registry::Jobs;
pub use show::jobs_batch;
