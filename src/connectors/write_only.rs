//! `WriteOnly`: the shape of connectors that are sinks only and take no
//! options (`print`, `blackhole`): each names itself and its sink; reading
//! one of their tables gives no rows. Both take updating results.

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::catalog::TableProvider;
use datafusion::execution::context::SessionState;

use super::connector::{no_rows, Connector, ConnectorConfig, Roles};
use super::options::Options;
use super::sink::Sink;
use crate::error::Result;
use crate::sql::create_table::CreateTable;

/// A sink-only connector without options.
#[derive(Debug)]
pub struct WriteOnly {
    names: &'static [&'static str],
    sink: fn() -> Box<dyn Sink>,
}

impl WriteOnly {
    /// The connector `names[0]` (then its aliases), writing with `sink`.
    pub const fn new(names: &'static [&'static str], sink: fn() -> Box<dyn Sink>) -> Self {
        WriteOnly { names, sink }
    }
}

#[async_trait::async_trait]
impl Connector for WriteOnly {
    fn names(&self) -> &'static [&'static str] {
        self.names
    }

    fn options(&self) -> &'static [&'static str] {
        &[]
    }

    fn roles(&self) -> Roles {
        Roles::SINK
    }

    async fn configure(
        &self,
        _state: &SessionState,
        definition: &CreateTable,
        declared: Schema,
    ) -> Result<Arc<dyn ConnectorConfig>> {
        Options::new(definition, self.options())?;
        Ok(Arc::new(WriteOnlyConfig {
            name: self.names[0],
            sink: self.sink,
            table: no_rows(declared)?,
        }))
    }
}

/// A write-only table: nothing to configure.
#[derive(Debug)]
struct WriteOnlyConfig {
    name: &'static str,
    sink: fn() -> Box<dyn Sink>,
    table: Arc<dyn TableProvider>,
}

#[async_trait::async_trait]
impl ConnectorConfig for WriteOnlyConfig {
    fn table(&self) -> Arc<dyn TableProvider> {
        Arc::clone(&self.table)
    }

    async fn open_sink(&self, _name: &str, _job: &str, _once: bool) -> Result<Box<dyn Sink>> {
        Ok((self.sink)())
    }

    fn takes_updates(&self) -> bool {
        true
    }

    fn describe(&self, name: &str) -> String {
        format!("sink: {} '{name}'", self.name)
    }
}
