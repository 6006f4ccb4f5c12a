//! The streaming planner: DataFusion's `LogicalPlan` of a query over a stream,
//! lowered into a pipeline of incremental operators.
//!
//! - [`window_table`]: the window table functions (TUMBLE, HOP, CUMULATE, SESSION).
//! - [`streaming`]: finds the stream in a plan, checks what can run on it, and
//!   builds the operator pipeline ([`crate::pipeline`]).
//!   Its parts: `scans` (where a plan reads streams), `checks` (what
//!   cannot run on one), `slicing` (a windowed aggregate split per slice).
//! - [`current_watermark`]: `CURRENT_WATERMARK(ts)`, bound to the pipeline
//!   it is planned into.

mod checks;
pub mod current_watermark;
mod scans;
mod slicing;
pub mod streaming;
pub mod window_table;
