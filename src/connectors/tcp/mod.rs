//! The `tcp` connector (alias `socket`): JSON or CSV lines over TCP, read
//! as a stream and written by a job.
//!
//! - `source.rs`: its options and the stream of lines;
//! - `sink.rs`: rows sent as lines;
//! - `line_decoder.rs`: lines into record batches.

pub mod line_decoder;
pub mod sink;
pub mod source;
