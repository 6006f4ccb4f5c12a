//! Connectors: where a table's rows come from.
//!
//! One connector per file. A connector turns the `WITH (...)` options of a
//! `CREATE TABLE` into a DataFusion table; [`ConnectorTable`] wraps it with the
//! declaration (computed columns, watermark) and is what gets registered.

pub mod blackhole;
pub mod filesystem;
pub mod json_depth;
pub mod nexmark;
pub mod object_stores;
pub mod options;
pub mod print;
pub mod registered_stream;
pub mod sink;
pub mod sinks;
pub mod stream_table;
pub mod table;
pub mod tcp;

pub use object_stores::LazyObjectStoreRegistry;
pub use registered_stream::RegisteredStream;
pub use stream_table::{StreamSource, StreamTable};
pub use table::ConnectorTable;
