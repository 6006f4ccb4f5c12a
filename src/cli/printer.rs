//! Printing results: a statement's stream of record batches, written to a
//! terminal or pipe as a table, CSV, TSV, a JSON array or NDJSON.
//!
//! CSV, TSV and NDJSON are written batch by batch as the rows arrive; the
//! table format needs every row to size its columns, and a JSON array is
//! written as one document, so those wait for the end of a bounded query.
//! Over a stream, which may never end, each emission is a table of its own
//! and the JSON array is written element by element.

use std::io::{self, IsTerminal, Write};
use std::time::Instant;

use clap::ValueEnum;
use datafusion::arrow::csv::{Writer as CsvWriter, WriterBuilder as CsvWriterBuilder};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::{ArrayWriter, LineDelimitedWriter};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::{pretty_format_batches, pretty_format_batches_with_schema};
use flowsql::materialized::Materialized;
use flowsql::{QueryStream, ResultMode};
use futures::StreamExt;

use super::progress::Progress;
use super::CliError;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned table with borders.
    Table,
    /// Comma-separated values with a header line.
    Csv,
    /// Tab-separated values with a header line.
    Tsv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// Prints the results of statements.
#[derive(Debug, Clone)]
pub struct Printer {
    /// The output format.
    pub format: Format,
    /// Print "N rows in T" after each statement (on standard error).
    pub timing: bool,
}

impl Printer {
    /// Prints every batch of `stream` to standard output and returns the
    /// number of rows printed. Statements that return no columns (DDL) print
    /// nothing.
    /// A streaming result in the table format is shown as `mode` says.
    pub async fn print(
        &self,
        stream: QueryStream,
        quiet: bool,
        mode: ResultMode,
    ) -> Result<usize, CliError> {
        let started = Instant::now();
        let progress = Progress::start(stream.metrics().into_iter().collect(), quiet);
        let schema = stream.schema();
        let rows = if schema.fields().is_empty() {
            drain(stream).await?
        } else {
            match self.format {
                Format::Table if stream.is_streaming() => match mode {
                    // Each emission is its own table, printed when it arrives.
                    ResultMode::Tableau => {
                        write_each(stream, progress.as_ref(), |buf, batch| {
                            let table = pretty_format_batches(std::slice::from_ref(batch))?;
                            writeln!(buf, "{table}").map_err(ArrowError::from)
                        })
                        .await?
                    }
                    // Each change a line, +I[...], -U[...], ...
                    ResultMode::Changelog => {
                        write_each(stream, progress.as_ref(), |buf, batch| {
                            let text = flowsql::changelog::flink_rows(batch)
                                .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
                            buf.extend_from_slice(text.as_bytes());
                            Ok(())
                        })
                        .await?
                    }
                    ResultMode::Table => show_table(stream, progress.as_ref()).await?,
                },
                Format::Table => {
                    let batches = stream.collect().await?;
                    let table = pretty_format_batches_with_schema(schema, &batches)
                        .map_err(flowsql::Error::from)?;
                    write_stdout(format!("{table}\n").as_bytes())?;
                    batches.iter().map(RecordBatch::num_rows).sum()
                }
                Format::Csv | Format::Tsv => {
                    let delimiter = if self.format == Format::Csv {
                        b','
                    } else {
                        b'\t'
                    };
                    // The header goes out first, even when there are no rows.
                    let empty = RecordBatch::new_empty(schema);
                    write_batch(&empty, |buf, b| csv_writer(buf, delimiter, true).write(b))?;
                    write_each(stream, progress.as_ref(), |buf, batch| {
                        csv_writer(buf, delimiter, false).write(batch)
                    })
                    .await?
                }
                Format::Ndjson => {
                    write_each(stream, progress.as_ref(), |buf, batch| {
                        let mut writer = LineDelimitedWriter::new(buf);
                        writer.write(batch)?;
                        writer.finish()
                    })
                    .await?
                }
                Format::Json if stream.is_streaming() => {
                    write_stdout(b"[")?;
                    let mut first = true;
                    let rows = write_each(stream, progress.as_ref(), |buf, batch| {
                        let mut lines = Vec::new();
                        let mut writer = LineDelimitedWriter::new(&mut lines);
                        writer.write(batch)?;
                        writer.finish()?;
                        for object in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                            if !std::mem::take(&mut first) {
                                buf.push(b',');
                            }
                            buf.extend_from_slice(object);
                        }
                        Ok(())
                    })
                    .await?;
                    write_stdout(b"]\n")?;
                    rows
                }
                Format::Json => {
                    let batches = stream.collect().await?;
                    if let Some(progress) = &progress {
                        progress.clear();
                    }
                    let rows = batches.iter().map(RecordBatch::num_rows).sum();
                    let mut buf = Vec::new();
                    if rows == 0 {
                        buf.extend_from_slice(b"[]");
                    } else {
                        let mut writer = ArrayWriter::new(&mut buf);
                        for batch in &batches {
                            writer.write(batch).map_err(flowsql::Error::from)?;
                        }
                        writer.finish().map_err(flowsql::Error::from)?;
                    }
                    buf.push(b'\n');
                    write_stdout(&buf)?;
                    rows
                }
            }
        };
        if self.timing {
            let plural = if rows == 1 { "" } else { "s" };
            eprintln!(
                "{rows} row{plural} in {:.3}s",
                started.elapsed().as_secs_f64()
            );
        }
        Ok(rows)
    }
}

/// The table a streaming result folds to: redrawn in place after each
/// batch on a terminal, printed once at the end otherwise.
async fn show_table(
    mut stream: QueryStream,
    progress: Option<&Progress>,
) -> Result<usize, CliError> {
    let data = flowsql::changelog::data_schema(stream.schema().as_ref());
    let mut table = Materialized::new(data.clone())?;
    let terminal = io::stdout().is_terminal();
    let mut drawn_lines = 0;
    let draw = |table: &Materialized, drawn_lines: &mut usize| -> Result<(), CliError> {
        let text = pretty_format_batches_with_schema(data.clone(), &[table.to_batch()?])
            .map_err(flowsql::Error::from)?
            .to_string();
        let mut out = String::new();
        if *drawn_lines > 0 {
            // Up to the last drawing's first line, and clear below.
            out.push_str(&format!("\x1b[{}A\x1b[J", *drawn_lines));
        }
        out.push_str(&text);
        out.push('\n');
        *drawn_lines = text.lines().count();
        Ok(write_stdout(out.as_bytes())?)
    };
    while let Some(batch) = stream.next().await {
        table.apply(&batch?)?;
        if terminal {
            if let Some(progress) = progress {
                progress.clear();
            }
            draw(&table, &mut drawn_lines)?;
        }
    }
    if let Some(progress) = progress {
        progress.clear();
    }
    if !terminal || drawn_lines == 0 {
        draw(&table, &mut 0)?;
    }
    Ok(table.len())
}

/// Writes each batch as it arrives.
async fn write_each(
    mut stream: QueryStream,
    progress: Option<&Progress>,
    mut format: impl FnMut(&mut Vec<u8>, &RecordBatch) -> Result<(), ArrowError>,
) -> Result<usize, CliError> {
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if let Some(progress) = progress {
            progress.clear();
        }
        write_batch(&batch, &mut format)?;
        rows += batch.num_rows();
    }
    Ok(rows)
}

/// Formats `batch` into memory, then writes it to standard output: Arrow's
/// writers turn I/O errors into strings, and a closed pipe must stay an
/// `io::ErrorKind::BrokenPipe` to end the run quietly.
fn write_batch(
    batch: &RecordBatch,
    mut format: impl FnMut(&mut Vec<u8>, &RecordBatch) -> Result<(), ArrowError>,
) -> Result<(), CliError> {
    let mut buf = Vec::new();
    format(&mut buf, batch).map_err(flowsql::Error::from)?;
    Ok(write_stdout(&buf)?)
}

/// Writes and flushes, so that a reader at the other end of a pipe sees the
/// output at once.
fn write_stdout(buf: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(buf)?;
    out.flush()
}

fn csv_writer(buf: &mut Vec<u8>, delimiter: u8, header: bool) -> CsvWriter<&mut Vec<u8>> {
    CsvWriterBuilder::new()
        .with_header(header)
        .with_delimiter(delimiter)
        .build(buf)
}

async fn drain(mut stream: QueryStream) -> Result<usize, CliError> {
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        rows += batch?.num_rows();
    }
    Ok(rows)
}
