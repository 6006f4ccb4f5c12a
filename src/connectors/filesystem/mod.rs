//! The `filesystem` connector: Parquet, CSV and JSON files, local or in an
//! object store, as a bounded table, a stream and a sink.
//!
//! - `listing.rs`: its options and the files a path names;
//! - `table.rs`: the bounded table; `stream.rs`: the files as a stream;
//! - `sink.rs`: files written by a job;
//! - `csv_records.rs`, `file_order.rs`: one CSV record per line, a file's
//!   rows in file order.

pub mod csv_records;
pub mod file_order;
pub mod listing;
pub mod sink;
pub mod stream;
pub mod table;
