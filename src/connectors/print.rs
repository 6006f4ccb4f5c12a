//! The `print` connector, a sink only ([`WriteOnly`]): rows to standard output, as Flink prints them.

use datafusion::arrow::record_batch::RecordBatch;

use super::sink::Sink;
use super::write_only::WriteOnly;
use crate::changelog::{self, RowKind};
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
        use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
        use std::io::Write;
        let options = FormatOptions::default().with_null("NULL");
        let (kinds, batch) = if changelog::is_changelog(&batch.schema()) {
            (Some(changelog::kinds(batch)?), changelog::data(batch)?)
        } else {
            (None, batch.clone())
        };
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
            let kind = kinds.as_ref().map_or(RowKind::Insert, |k| k[row]);
            text.push_str(&format!("{kind}[{}]\n", values.join(", ")));
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
