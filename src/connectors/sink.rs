//! Sinks: where `INSERT INTO` sends a query's rows.
//!
//! One sink per file, all of one shape: [`Sink`] takes batches and is
//! finished once, which flushes and publishes what it wrote. A sink table is
//! declared like any connector table; [`open_sink`] makes the writer for it.

use datafusion::arrow::record_batch::RecordBatch;

use super::file_sink::FileSink;
use super::options::Options;
use super::tcp::TcpOptions;
use super::tcp_sink::TcpSink;
use super::ConnectorTable;
use crate::checkpoint::Snapshot;
use crate::error::{Error, Result};

/// Writes a job's result rows somewhere.
#[async_trait::async_trait]
pub trait Sink: Send {
    /// Takes one batch.
    async fn write(&mut self, batch: &RecordBatch) -> Result<()>;

    /// Flushes and publishes everything written; called once, also when the
    /// job is stopped.
    async fn finish(&mut self) -> Result<()>;

    /// A checkpoint is being taken: makes everything written so far durable
    /// but not yet visible, and returns what [`Sink::recover`] needs to make
    /// it visible after a crash. Sinks that cannot hold output back (print,
    /// TCP) are at-least-once: they return nothing.
    async fn pre_commit(&mut self) -> Result<Snapshot> {
        Ok(Snapshot::default())
    }

    /// The checkpoint is complete: makes what [`Sink::pre_commit`] prepared
    /// visible.
    async fn commit(&mut self) -> Result<()> {
        Ok(())
    }

    /// The job restarts from a checkpoint whose [`Sink::pre_commit`] gave
    /// `state`: makes that output visible and discards what was written
    /// after it (it is written again).
    async fn recover(&mut self, state: Snapshot) -> Result<()> {
        let _ = state;
        Ok(())
    }

    /// Stops without publishing what no checkpoint covers (a checkpointed
    /// job that is stopped or fails: a restart writes it again).
    async fn abort(&mut self) -> Result<()> {
        self.finish().await
    }

    /// What went wrong without failing the job since the last call (a
    /// reader dropped), for `SHOW JOBS`.
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }
}

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
