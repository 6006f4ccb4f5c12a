//! flowsql: a streaming SQL engine on Apache Arrow and DataFusion.
//!
//! People write SQL: Flink-style `CREATE TABLE ... WITH ('connector' = ...)`
//! over Parquet, CSV and JSON files (local or in an object store) and any
//! query DataFusion can run. This crate is the engine behind the `flowsql`
//! program and the library for embedding it in Rust programs.
//!
//! # Example
//!
//! ```
//! use futures::StreamExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> flowsql::Result<()> {
//! let engine = flowsql::Engine::builder().data_dir("state").build().await?;
//! engine
//!     .execute(
//!         "CREATE TABLE bids (auction BIGINT, price DOUBLE, ts TIMESTAMP(3))
//!          WITH ('connector' = 'filesystem', 'path' = 'data/bids.csv', 'format' = 'csv')",
//!     )
//!     .await?;
//! let mut results = engine
//!     .query("SELECT auction, COUNT(*) AS bids FROM bids GROUP BY auction ORDER BY auction")
//!     .await?;
//! let mut rows = 0;
//! while let Some(batch) = results.next().await {
//!     let batch = batch?; // an Arrow RecordBatch
//!     rows += batch.num_rows();
//! }
//! assert_eq!(rows, 8);
//! # Ok(())
//! # }
//! ```
//!
//! UDFs and UDAFs are registered on [`Engine::session_context`], DataFusion's
//! own `SessionContext`.
//!
//! # What programs use
//!
//! [`Engine`] (built with [`EngineBuilder`]) runs statements; a query's rows
//! come as a [`QueryStream`] of Arrow batches, a streaming query's with its
//! live [`StreamMetrics`]; a Rust stream of batches ([`BatchStream`]) is
//! registered as a streaming table with [`Engine::register_stream`]; jobs
//! are listed as [`JobInfo`] ([`JobState`], [`CheckpointInfo`]); every
//! failure is an [`Error`] saying whose fault it is, with a [`Location`] in
//! the statement when it has one. The public modules below hold the rest:
//! job control ([`jobs`]), the model registry ([`ml`]), statement splitting
//! ([`sql`]) and the checkpoint store ([`checkpoint`]).
//!
//! # Layout
//!
//! Data flows top to bottom; modules marked internal are `pub(crate)`:
//!
//! - [`engine`]: [`Engine`], the embedding API: `execute`, `query`.
//! - [`error`]: [`Error`], one enum whose variants say whose fault it is.
//! - `config` (internal): intervals and sizes as users write them, within
//!   bounds; the paths statements may use (`--allow-path`).
//! - [`metrics`]: live counters of a streaming query.
//! - `settings` (internal): Flink's `SET` keys (`execution.*`, `pipeline.*`,
//!   `table.*`, `sql-client.*`) as DataFusion option extensions.
//! - [`sql`]: splitting text into statements, flowsql's own DDL.
//! - `connectors` (internal): one connector per folder or file, of one
//!   shape, in one registry; the table they make; stream sources and sinks.
//! - `planner` (internal): the streaming planner: a query over a stream
//!   becomes a pipeline of operators; window table functions.
//! - `pipeline` (internal): runs a planned chain of operators over its
//!   sources.
//! - `operators` (internal): incremental operators, one per file, one
//!   trait, and the sub-plans they run.
//! - `window` (internal): window kinds and row-to-window assignment.
//! - [`changelog`]: row kinds (`+I`, `-U`, `+U`, `-D`) and how an updating
//!   result carries them (a first `op` column).
//! - [`results`]: [`QueryStream`], the rows of a running statement.
//! - [`jobs`]: continuous jobs started by `INSERT INTO` a sink.
//! - [`checkpoint`]: operator and source snapshots, the checkpoint store.
//! - [`ml`]: models trained and applied in SQL, and their registry.
//! - `cli` (the `flowsql` binary only): shell, scripts, printing.

#![deny(missing_docs)]

pub mod changelog;
pub mod checkpoint;
pub(crate) mod config;
pub(crate) mod connectors;
pub mod engine;
pub mod error;
pub mod jobs;
pub mod materialized;
pub mod metrics;
pub mod ml;
pub(crate) mod operators;
pub(crate) mod pipeline;
pub(crate) mod planner;
pub mod results;
pub(crate) mod settings;
pub mod sql;
#[cfg(test)]
mod testing;
pub(crate) mod window;

// What programs embedding flowsql use.
pub use connectors::registered_stream::BatchStream;
pub use datafusion;
pub use datafusion::arrow;
pub use engine::{Engine, EngineBuilder};
pub use error::{Error, Location, Result};
pub use jobs::{CheckpointInfo, JobInfo, JobState};
pub use metrics::StreamMetrics;
pub use results::QueryStream;
pub use settings::ResultMode;

/// Internals the fuzz targets drive directly; not a stable API.
#[doc(hidden)]
pub mod internals {
    pub use crate::connectors::tcp::line_decoder;
}
