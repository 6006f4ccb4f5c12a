//! The streaming planner: DataFusion's `LogicalPlan` of a query over a stream,
//! lowered into a pipeline of incremental operators.
//!
//! - [`window_table`]: the window table functions (TUMBLE, HOP, CUMULATE, SESSION).
//! - [`streaming`]: finds the stream in a plan, checks what can run on it, and
//!   builds the operator pipeline ([`crate::pipeline`]).
//!   Its parts: `scans` (where a plan reads streams), `checks` (what
//!   cannot run on one), `slicing` (a windowed aggregate split per slice),
//!   `lookup` (a join of the stream with a bounded table, read once into a
//!   hash table), `stream_join` (a join of two streams: interval or regular;
//!   both split the ON condition with `join_condition`), `updating` (a stream without a window through stateful operators:
//!   `group_by`, an unbounded GROUP BY, `top_n`, Top-N and deduplication,
//!   and `over`, OVER aggregates), `stand_in` (a table standing in for an aggregate, so
//!   the query above it runs on its own).
//!   `processing_time` puts a clock before a window on `PROCTIME()`.
//! - [`current_watermark`]: `CURRENT_WATERMARK(ts)`, bound to the pipeline
//!   it is planned into.

mod checks;
pub mod current_watermark;
mod group_by;
mod join_condition;
mod lookup;
mod over;
mod processing_time;
mod scans;
mod slicing;
mod stand_in;
mod stream_join;
pub mod streaming;
mod temporal_join;
mod top_n;
mod updating;
pub mod window_table;
