//! The streaming planner: DataFusion's `LogicalPlan` of a query over a stream,
//! lowered into a pipeline of incremental operators.
//!
//! - [`window_table`]: the window table functions (TUMBLE, HOP, CUMULATE, SESSION).
//! - [`streaming`]: finds the stream in a plan, checks what can run on it, and
//!   builds the operator pipeline ([`crate::pipeline`]).
//! - [`current_watermark`]: `CURRENT_WATERMARK(ts)`, bound to the pipeline
//!   it is planned into.

pub mod current_watermark;
pub mod streaming;
pub mod window_table;
