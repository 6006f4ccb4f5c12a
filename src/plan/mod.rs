//! The streaming planner: DataFusion's `LogicalPlan` of a query over a stream,
//! lowered into a pipeline of incremental operators.
//!
//! - [`window`]: window kinds and row-to-window assignment.
//! - [`window_table`]: the window table functions (TUMBLE, HOP, CUMULATE, SESSION).
//! - [`streaming`]: finds the stream in a plan, checks what can run on it, and
//!   builds the operator pipeline.
//! - [`pipeline`]: runs a pipeline, feeding results to a [`crate::QueryStream`].
//! - [`emission`]: the query's own plan, run over the rows of one emission;
//!   [`emission_source`]: the table that feeds it.
//! - [`metrics`]: live counters of a streaming query.

pub mod current_watermark;
pub mod emission;
pub mod emission_source;
pub mod metrics;
pub mod pipeline;
pub mod streaming;
pub mod window;
pub mod window_table;
