//! The `print` connector, a sink only ([`WriteOnly`]): rows to standard output, as Flink prints them.

use datafusion::arrow::record_batch::RecordBatch;

use super::sink::Sink;
use super::write_only::WriteOnly;
use crate::changelog;
use crate::error::Result;

/// `'connector' = 'print'`.
pub static PRINT: WriteOnly = WriteOnly::new(&["print"], || Box::new(PrintSink));

/// `'connector' = 'print'`: rows to standard output, one per line, as
/// Flink prints them (`+I[v1, v2]`; an updating result's rows with their
/// kinds, `-U[...]`, `+U[...]`, `-D[...]`).
pub struct PrintSink;

#[async_trait::async_trait]
impl Sink for PrintSink {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        use std::io::Write;
        let text = changelog::flink_rows(batch)?;
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
