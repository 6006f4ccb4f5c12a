//! `Connector`: the one shape of every connector.
//!
//! A connector is what `'connector' = '<name>'` names. At `CREATE TABLE` it
//! checks the declaration and parses its `WITH (...)` options once, into
//! its own typed configuration (a [`ConnectorConfig`]); everything later
//! (a bounded scan, a stream, a sink, EXPLAIN) asks that configuration.
//! Adding a connector is one folder of the shape of its siblings and one
//! line in [`super::registry::CONNECTORS`].

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::execution::context::SessionState;

use super::sink::Sink;
use super::source::Source;
use crate::error::{Error, Result};
use crate::metrics::StreamMetrics;
use crate::sql::create_table::CreateTable;

/// What a connector's tables can be: read (a source), written (a sink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// Its tables can be read: as a bounded table, or as a stream.
    pub source: bool,
    /// Its tables can be written by `INSERT INTO`.
    pub sink: bool,
}

impl Roles {
    /// Read and written (filesystem, tcp).
    pub const SOURCE_AND_SINK: Roles = Roles {
        source: true,
        sink: true,
    };
    /// Read only (nexmark).
    pub const SOURCE: Roles = Roles {
        source: true,
        sink: false,
    };
    /// Written only (print, blackhole).
    pub const SINK: Roles = Roles {
        source: false,
        sink: true,
    };
}

/// A connector, as `'connector' = ...` names it.
#[async_trait::async_trait]
pub trait Connector: Send + Sync + Debug {
    /// The name `'connector' = ...` uses, then any aliases.
    fn names(&self) -> &'static [&'static str];

    /// The options it understands, besides `connector`.
    fn options(&self) -> &'static [&'static str];

    /// Whether its tables are read, written, or both.
    fn roles(&self) -> Roles;

    /// Checks `definition`, whose physical columns are `declared`, and
    /// parses its options once: the table's configuration.
    async fn configure(
        &self,
        state: &SessionState,
        definition: &CreateTable,
        declared: Schema,
    ) -> Result<Arc<dyn ConnectorConfig>>;
}

/// One table's connector, its options parsed and checked.
#[async_trait::async_trait]
pub trait ConnectorConfig: Send + Sync + Debug {
    /// What a bounded query scans (no rows for a connector whose rows only
    /// come while a streaming query runs, or that is only written).
    fn table(&self) -> Arc<dyn TableProvider>;

    /// True when the table's rows only come while a streaming query runs
    /// (a socket, a generator): it is a stream even without a WATERMARK.
    fn is_unbounded(&self) -> bool {
        false
    }

    /// The column whose values are the watermark when the table declares
    /// none (a generator's event time, in order).
    fn implied_watermark(&self) -> Option<&str> {
        None
    }

    /// Starts reading the table `definition` declares, whose rows have
    /// `schema` (computed columns included), as a stream (connects or
    /// listens, for tcp).
    async fn open_source(
        &self,
        definition: &CreateTable,
        schema: SchemaRef,
        state: SessionState,
        metrics: &Arc<StreamMetrics>,
    ) -> Result<Box<dyn Source>> {
        let _ = (schema, state, metrics);
        Err(Error::query(format!(
            "table '{}' cannot be read as a stream",
            definition.table_name()
        )))
    }

    /// The writer for the table `name`, for the job named `job` (file sinks
    /// name their files after it); `exactly_once` when the job takes
    /// checkpoints (output is then published only with a checkpoint).
    async fn open_sink(&self, name: &str, job: &str, exactly_once: bool) -> Result<Box<dyn Sink>> {
        let _ = (job, exactly_once);
        Err(Error::query(format!("table '{name}' cannot be written to")))
    }

    /// True when the sink takes an updating result (a changelog: `op`
    /// first); an append-only sink is given only inserts.
    fn takes_updates(&self) -> bool {
        false
    }

    /// True when the sink writes an updating result as upserts by the
    /// table's `PRIMARY KEY` ([`ConnectorConfig::open_upsert_sink`]).
    fn takes_upserts(&self) -> bool {
        false
    }

    /// The sink writing an updating result as upserts by the columns `key`
    /// (indices among the table's columns).
    async fn open_upsert_sink(
        &self,
        name: &str,
        job: &str,
        exactly_once: bool,
        key: Vec<usize>,
    ) -> Result<Box<dyn Sink>> {
        let _ = (job, exactly_once, key);
        Err(Error::query(format!(
            "table '{name}' cannot take upserts by its PRIMARY KEY"
        )))
    }

    /// One line for EXPLAIN: where a stream over the table `name` reads.
    fn describe(&self, name: &str) -> String;
}

/// The table of a connector whose rows never come from a bounded scan: a
/// stream-only or write-only table reads as no rows.
pub fn no_rows(declared: Schema) -> Result<Arc<dyn TableProvider>> {
    Ok(Arc::new(datafusion::datasource::MemTable::try_new(
        Arc::new(declared),
        vec![vec![]],
    )?))
}
