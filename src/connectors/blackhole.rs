//! The `blackhole` connector, a sink only: discards rows (for benchmarks). It takes no
//! options; reading its table gives no rows.

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::execution::context::SessionState;

use super::connector::{no_rows, Connector, ConnectorConfig, Roles};
use super::options::Options;
use super::sink::Sink;
use crate::error::Result;
use crate::sql::create_table::CreateTable;

/// `'connector' = 'blackhole'`.
#[derive(Debug)]
pub struct Blackhole;

#[async_trait::async_trait]
impl Connector for Blackhole {
    fn names(&self) -> &'static [&'static str] {
        &["blackhole"]
    }

    fn options(&self) -> &'static [&'static str] {
        &[]
    }

    fn roles(&self) -> Roles {
        Roles {
            source: false,
            sink: true,
        }
    }

    async fn configure(
        &self,
        _state: &SessionState,
        definition: &CreateTable,
        declared: Schema,
    ) -> Result<Arc<dyn ConnectorConfig>> {
        Options::new(definition, self.options())?;
        Ok(Arc::new(BlackholeConfig {
            table: no_rows(declared)?,
        }))
    }
}

/// A blackhole table: nothing to configure.
#[derive(Debug)]
struct BlackholeConfig {
    table: Arc<dyn TableProvider>,
}

#[async_trait::async_trait]
impl ConnectorConfig for BlackholeConfig {
    fn table(&self) -> Arc<dyn TableProvider> {
        Arc::clone(&self.table)
    }

    async fn open_sink(&self, _name: &str, _job: &str, _once: bool) -> Result<Box<dyn Sink>> {
        Ok(Box::new(BlackholeSink))
    }

    fn describe(&self, name: &str) -> String {
        format!("sink: blackhole '{name}'")
    }
}

/// `'connector' = 'blackhole'`: discards rows (for benchmarks).
pub struct BlackholeSink;

#[async_trait::async_trait]
impl Sink for BlackholeSink {
    async fn write(&mut self, _batch: &RecordBatch) -> Result<()> {
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
