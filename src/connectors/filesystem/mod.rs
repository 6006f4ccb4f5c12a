//! The `filesystem` connector: Parquet, CSV and JSON files, local or in an
//! object store, as a bounded table, a stream and a sink.
//!
//! - `listing.rs`: its options and the files a path names;
//! - `table.rs`: the bounded table; `stream.rs`: the files as a stream;
//! - `sink.rs`: files written by a job; `directory.rs`: where they go (a
//!   local directory or an object store) and how each becomes visible;
//!   `partitioned.rs`, `upsert.rs`: PARTITIONED BY and PRIMARY KEY tables;
//! - `csv_records.rs`, `file_order.rs`: one CSV record per line, a file's
//!   rows in file order.

pub mod csv_records;
pub mod directory;
pub mod file_order;
pub mod listing;
pub mod partitioned;
pub mod sink;
pub mod stream;
pub mod table;
pub mod upsert;

use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::execution::context::SessionState;

use super::connector::{Connector, ConnectorConfig, Roles};
use super::sink::Sink;
use super::source::Source;
use crate::error::{Error, Result};
use crate::metrics::StreamMetrics;
use crate::sql::create_table::CreateTable;
use sink::{FileSink, FileSinkOptions};
use stream::{FileStream, FileStreamOptions};

/// `'connector' = 'filesystem'`.
#[derive(Debug)]
pub struct Filesystem;

#[async_trait::async_trait]
impl Connector for Filesystem {
    fn names(&self) -> &'static [&'static str] {
        &["filesystem"]
    }

    fn options(&self) -> &'static [&'static str] {
        listing::OPTIONS
    }

    fn roles(&self) -> Roles {
        Roles::SOURCE_AND_SINK
    }

    async fn configure(
        &self,
        state: &SessionState,
        definition: &CreateTable,
        declared: Schema,
    ) -> Result<Arc<dyn ConnectorConfig>> {
        let table = table::create_table(state, definition, declared).await?;
        let monitor_interval = match definition.option("source.monitor-interval") {
            Some(_) if definition.watermark.is_none() => {
                return Err(Error::query(
                    "'source.monitor-interval' makes the table an unbounded stream, which \
                     needs event time: add WATERMARK FOR <timestamp column> AS <column> - \
                     INTERVAL '5' SECOND",
                ))
            }
            Some(text) => Some(crate::config::parse_interval(text).map_err(|problem| {
                Error::query(format!("option 'source.monitor-interval': {problem}"))
            })?),
            None => None,
        };
        Ok(Arc::new(FilesystemConfig {
            stream: FileStreamOptions {
                path: definition.option("path").unwrap_or_default().to_string(),
                format: definition.option("format").unwrap_or_default().to_string(),
                monitor_interval,
            },
            sink: FileSinkOptions::from_table(definition)?,
            partition_columns: definition
                .partitioned_by
                .iter()
                .map(|key| {
                    let name = crate::sql::create_table::normalize(key);
                    let position = definition.columns.iter().position(|c| c.name() == name);
                    (name, position.unwrap_or_default())
                })
                .collect(),
            table,
        }))
    }
}

/// A filesystem table: what a stream over it reads and how a job writes
/// it, and its bounded table.
#[derive(Debug)]
struct FilesystemConfig {
    stream: FileStreamOptions,
    sink: FileSinkOptions,
    /// `PARTITIONED BY`: each partition column's name and position.
    partition_columns: Vec<(String, usize)>,
    table: Arc<dyn TableProvider>,
}

#[async_trait::async_trait]
impl ConnectorConfig for FilesystemConfig {
    fn table(&self) -> Arc<dyn TableProvider> {
        Arc::clone(&self.table)
    }

    async fn open_source(
        &self,
        definition: &CreateTable,
        _schema: SchemaRef,
        state: SessionState,
        _metrics: &Arc<StreamMetrics>,
    ) -> Result<Box<dyn Source>> {
        let stream = FileStream::open(state, definition, &self.stream).await?;
        Ok(Box::new(stream))
    }

    async fn open_sink(&self, _name: &str, job: &str, exactly_once: bool) -> Result<Box<dyn Sink>> {
        if !self.partition_columns.is_empty() {
            return Ok(Box::new(partitioned::PartitionedFileSink::open(
                &self.sink,
                job,
                exactly_once,
                self.partition_columns.clone(),
            )?));
        }
        Ok(Box::new(
            FileSink::open(&self.sink, job, exactly_once).await?,
        ))
    }

    /// An updating result into a table with a PRIMARY KEY: one snapshot
    /// file of the whole table, replaced at each checkpoint.
    fn takes_upserts(&self) -> bool {
        true
    }

    async fn open_upsert_sink(
        &self,
        name: &str,
        job: &str,
        exactly_once: bool,
        key: Vec<usize>,
    ) -> Result<Box<dyn Sink>> {
        if !self.partition_columns.is_empty() {
            return Err(Error::query(format!(
                "table '{name}': an updating result into a PARTITIONED BY table is not \
                 supported yet; leave PARTITIONED BY out (the table is one snapshot file)"
            )));
        }
        let files = FileSink::open_snapshots(&self.sink, job, exactly_once).await?;
        Ok(Box::new(upsert::UpsertFileSink::new(
            files,
            key,
            exactly_once,
        )))
    }

    fn describe(&self, name: &str) -> String {
        format!("source: files of stream '{name}', in path order")
    }
}
