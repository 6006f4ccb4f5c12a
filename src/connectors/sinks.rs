//! The connectors that can be written to, and [`open_sink`], which makes
//! the writer for a sink table.

use super::blackhole::BlackholeSink;
use super::filesystem::sink::FileSink;
use super::options::Options;
use super::print::PrintSink;
use super::sink::Sink;
use super::tcp::sink::TcpSink;
use super::tcp::source::TcpOptions;
use super::ConnectorTable;
use crate::error::{Error, Result};

/// Connectors that can be written to.
pub const SINK_CONNECTORS: &[&str] = &["print", "blackhole", "filesystem", "tcp"];

/// Options of the print and blackhole sinks (none besides `connector`).
pub const NO_OPTIONS: &[&str] = &[];

/// The writer for sink table `table`, for the job named `job` (file sinks
/// name their files after it); `exactly_once` when the job takes
/// checkpoints (file sinks then publish output only with a checkpoint).
pub async fn open_sink(
    table: &ConnectorTable,
    job: &str,
    exactly_once: bool,
) -> Result<Box<dyn Sink>> {
    let definition = table.definition();
    match definition.option("connector").unwrap_or_default() {
        "tcp" | "socket" => {
            let options = TcpOptions::from_table(definition)?;
            Ok(Box::new(
                TcpSink::open(&definition.table_name(), &options).await?,
            ))
        }
        "print" => {
            Options::new(definition, NO_OPTIONS)?;
            Ok(Box::new(PrintSink))
        }
        "blackhole" => {
            Options::new(definition, NO_OPTIONS)?;
            Ok(Box::new(BlackholeSink))
        }
        "filesystem" => Ok(Box::new(FileSink::open(definition, job, exactly_once)?)),
        other => Err(Error::query(format!(
            "table '{}' (connector '{other}') cannot be written to; sinks are: {}",
            definition.table_name(),
            SINK_CONNECTORS.join(", ")
        ))),
    }
}
