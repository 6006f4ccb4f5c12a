//! The `nexmark` connector: the Nexmark benchmark's events, generated
//! while a query runs.
//!
//! - `source.rs`: its options and the generating source;
//! - `generator.rs`: the event model, straight into Arrow arrays.

pub mod generator;
pub mod source;
