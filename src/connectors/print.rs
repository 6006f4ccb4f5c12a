//! The `print` connector, a sink only: rows to standard output, as Flink prints them. It takes no
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

/// `'connector' = 'print'`.
#[derive(Debug)]
pub struct Print;

#[async_trait::async_trait]
impl Connector for Print {
    fn names(&self) -> &'static [&'static str] {
        &["print"]
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
        Ok(Arc::new(PrintConfig {
            table: no_rows(declared)?,
        }))
    }
}

/// A print table: nothing to configure.
#[derive(Debug)]
struct PrintConfig {
    table: Arc<dyn TableProvider>,
}

#[async_trait::async_trait]
impl ConnectorConfig for PrintConfig {
    fn table(&self) -> Arc<dyn TableProvider> {
        Arc::clone(&self.table)
    }

    async fn open_sink(&self, _name: &str, _job: &str, _once: bool) -> Result<Box<dyn Sink>> {
        Ok(Box::new(PrintSink))
    }

    fn describe(&self, name: &str) -> String {
        format!("sink: print '{name}'")
    }
}

/// `'connector' = 'print'`: rows to standard output, one per line, as
/// Flink prints them (`+I[v1, v2]`).
pub struct PrintSink;

#[async_trait::async_trait]
impl Sink for PrintSink {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
        use std::io::Write;
        let options = FormatOptions::default().with_null("NULL");
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        let mut text = String::new();
        for row in 0..batch.num_rows() {
            let values: Vec<String> = formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect();
            text.push_str(&format!("+I[{}]\n", values.join(", ")));
        }
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
