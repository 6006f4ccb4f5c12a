//! Connectors: where a table's rows come from and where a job's go.
//!
//! Every connector has one shape ([`connector::Connector`]): its names, the
//! options it understands, whether it reads and/or writes, and `configure`,
//! which parses a table's options once into the connector's own
//! configuration. That configuration opens a stream's [`source::Source`] and a
//! job's [`sink::Sink`]. Each connector is a folder or a file:
//! `filesystem/`, `tcp/`, `nexmark/`, `print.rs`, `blackhole.rs` (the last
//! two of the sink-only shape, `write_only.rs`); they are listed once, in
//! [`registry::CONNECTORS`].
//!
//! [`ConnectorTable`] is the table `CREATE TABLE ... WITH ('connector' =
//! ...)` registers: the connector's table with the declaration (computed
//! columns, watermark). [`StreamTable`] is how the planner sees any stream:
//! a connector table or a program's [`RegisteredStream`].

pub mod blackhole;
pub mod computed_source;
pub mod connector;
pub mod declared;
pub mod filesystem;
pub mod json_depth;
pub mod nexmark;
pub mod object_stores;
pub mod options;
pub mod print;
pub mod registered_stream;
pub mod registry;
pub mod sink;
pub mod source;
pub mod stream_table;
pub mod table;
pub mod tcp;
pub mod write_only;

pub use object_stores::LazyObjectStoreRegistry;
pub use registered_stream::RegisteredStream;
pub use stream_table::StreamTable;
pub use table::ConnectorTable;
