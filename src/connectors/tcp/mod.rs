//! The `tcp` connector (alias `socket`): JSON or CSV lines over TCP, read
//! as a stream and written by a job.
//!
//! - `options.rs`: its options, checked once;
//! - `source.rs`: the stream of lines;
//! - `sink.rs`: rows sent as lines;
//! - `line_decoder.rs`: lines into record batches.

pub mod line_decoder;
pub mod options;
pub mod sink;
pub mod source;

use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::execution::context::SessionState;

use super::computed_source::ComputedColumns;
use super::connector::{no_rows, Connector, ConnectorConfig, Roles};
use super::sink::Sink;
use super::source::Source;
use crate::error::Result;
use crate::metrics::StreamMetrics;
use crate::sql::create_table::CreateTable;
use options::TcpOptions;

/// `'connector' = 'tcp'` (alias `socket`).
#[derive(Debug)]
pub struct Tcp;

#[async_trait::async_trait]
impl Connector for Tcp {
    fn names(&self) -> &'static [&'static str] {
        &["tcp", "socket"]
    }

    fn options(&self) -> &'static [&'static str] {
        options::OPTIONS
    }

    fn roles(&self) -> Roles {
        Roles::SOURCE_AND_SINK
    }

    async fn configure(
        &self,
        _state: &SessionState,
        definition: &CreateTable,
        declared: Schema,
    ) -> Result<Arc<dyn ConnectorConfig>> {
        let options = TcpOptions::from_table(definition)?;
        Ok(Arc::new(TcpConfig {
            options,
            // Rows only ever come from the socket, while a query runs.
            table: no_rows(declared)?,
        }))
    }
}

/// A tcp table: its options and its (always empty) bounded table.
#[derive(Debug)]
struct TcpConfig {
    options: TcpOptions,
    table: Arc<dyn TableProvider>,
}

#[async_trait::async_trait]
impl ConnectorConfig for TcpConfig {
    fn table(&self) -> Arc<dyn TableProvider> {
        Arc::clone(&self.table)
    }

    fn is_unbounded(&self) -> bool {
        true
    }

    async fn open_source(
        &self,
        definition: &CreateTable,
        schema: SchemaRef,
        state: SessionState,
        metrics: &Arc<StreamMetrics>,
    ) -> Result<Box<dyn Source>> {
        let name = definition.table_name();
        let physical = self.table.schema();
        let source = source::TcpSource::open(
            &name,
            &self.options,
            Arc::clone(&physical),
            Arc::clone(metrics),
        )
        .await?;
        ComputedColumns::wrap(&state, definition, &physical, schema, Box::new(source))
    }

    async fn open_sink(&self, name: &str, _job: &str, _once: bool) -> Result<Box<dyn Sink>> {
        Ok(Box::new(sink::TcpSink::open(name, &self.options).await?))
    }

    fn describe(&self, name: &str) -> String {
        self.options.describe(name)
    }
}
