//! Checkpoints: the state of a running query, taken between batches, so a
//! job stopped at any moment resumes where its last checkpoint left it.
//!
//! A query's pipeline handles one batch at a time through every operator,
//! so the moment between two batches is consistent by construction (what
//! Flink's aligned barriers achieve across tasks): each operator's
//! [`Snapshot`] then reflects exactly the input read so far.

pub mod snapshot;
pub mod state;
pub mod store;

pub use snapshot::Snapshot;
pub use state::QueryState;
pub use store::{CheckpointStore, Restored};

#[cfg(test)]
mod tests;
