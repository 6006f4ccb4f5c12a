//! The `tcp` connector (alias `socket`): records arrive as lines over TCP.
//!
//! `'mode' = 'client'` connects to `hostname:port` (like Flink's socket
//! source reading from `nc -l`); without `'reconnect' = 'true'` the stream
//! ends when the peer closes the connection, otherwise flowsql reconnects
//! with backoff. `'mode' = 'server'` listens on `hostname:port` and accepts
//! any number of producers at once; it never ends.
//!
//! ```text
//! socket ─reader task─▶ lines (bounded channel) ─▶ TcpSource: batch by size or 50 ms ─▶ LineDecoder ─▶ batches
//! ```
//!
//! The channel is bounded, so a slow query slows the readers and memory stays
//! bounded whatever the producers do. Lines longer than `'max-line-bytes'`
//! (default 1 MiB) are cut and treated as malformed, like invalid UTF-8.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::runtime::SpawnedTask;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::line_decoder::{Line, LineDecoder, LineFormat};
use super::options::Options;
use crate::error::{Error, Result};
use crate::plan::metrics::StreamMetrics;
use crate::sql::create_table::CreateTable;

/// Options the tcp connector understands, besides `connector`.
pub const OPTIONS: &[&str] = &[
    "hostname",
    "port",
    "mode",
    "format",
    "reconnect",
    "max-line-bytes",
    "json.ignore-parse-errors",
    "csv.ignore-parse-errors",
];

/// Most rows in one batch.
const BATCH_ROWS: usize = 8192;
/// Longest a row waits for its batch to fill.
const BATCH_DELAY: Duration = Duration::from_millis(50);
/// Lines buffered between the socket readers and the query.
const CHANNEL_LINES: usize = 4 * BATCH_ROWS;

/// A tcp table's settings, checked.
#[derive(Debug, Clone)]
pub struct TcpOptions {
    hostname: String,
    port: u16,
    server: bool,
    format: LineFormat,
    reconnect: bool,
    ignore_parse_errors: bool,
    max_line_bytes: usize,
}

impl TcpOptions {
    /// Reads and checks the `WITH (...)` options of `table`.
    pub fn from_table(table: &CreateTable) -> Result<Self> {
        let options = Options::new(table, OPTIONS)?;
        let hostname = options
            .get("hostname")
            .map_or("127.0.0.1", |o| o.value)
            .to_string();
        let port = options.required("port")?;
        let port = port
            .value
            .parse::<u16>()
            .map_err(|_| port.error(format!("'{}' is not a port number", port.value)))?;
        let server = match options.get("mode") {
            None => false,
            Some(o) if o.value.eq_ignore_ascii_case("client") => false,
            Some(o) if o.value.eq_ignore_ascii_case("server") => true,
            Some(o) => return Err(o.error("use 'client' or 'server'".into())),
        };
        let format = match options.get("format") {
            Some(o) if o.value.eq_ignore_ascii_case("json") => LineFormat::Json,
            Some(o) if o.value.eq_ignore_ascii_case("csv") => LineFormat::Csv,
            Some(o) => return Err(o.error("use 'json' or 'csv' (one record per line)".into())),
            None => {
                return Err(Error::query(format!(
                "table '{}' needs the option 'format' ('json' or 'csv') in its WITH (...) clause",
                table.table_name()
            )))
            }
        };
        let flag = |key: &str| -> Result<bool> {
            match options.get(key) {
                None => Ok(false),
                Some(o) => o
                    .value
                    .parse::<bool>()
                    .map_err(|_| o.error("use 'true' or 'false'".into())),
            }
        };
        let ignore_parse_errors = flag(&format!("{}.ignore-parse-errors", format.name()))?;
        let max_line_bytes = match options.get("max-line-bytes") {
            None => 1 << 20,
            Some(o) => o
                .value
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| o.error("use a positive number of bytes".into()))?,
        };
        Ok(TcpOptions {
            hostname,
            port,
            server,
            format,
            reconnect: flag("reconnect")?,
            ignore_parse_errors,
            max_line_bytes,
        })
    }

    /// True for `'mode' = 'server'`.
    pub fn is_server(&self) -> bool {
        self.server
    }

    /// The line format.
    pub fn format(&self) -> LineFormat {
        self.format
    }

    /// `hostname:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.hostname, self.port)
    }

    /// One line for EXPLAIN.
    pub fn describe(&self, table: &str) -> String {
        let mode = if self.server {
            "listening on"
        } else {
            "connected to"
        };
        format!(
            "source: tcp stream '{table}', {} lines, {mode} {}",
            self.format.name(),
            self.address()
        )
    }
}

/// The reading end of a tcp table.
pub struct TcpSource {
    lines: mpsc::Receiver<Line>,
    decoder: LineDecoder,
    metrics: Arc<StreamMetrics>,
    /// A malformed record's error, raised once the rows before it are out.
    failed: Option<Error>,
    /// The socket tasks; dropping the source stops them.
    _tasks: SpawnedTask<()>,
}

impl TcpSource {
    /// Connects (client) or starts listening (server).
    pub async fn open(
        name: &str,
        options: &TcpOptions,
        schema: SchemaRef,
        metrics: Arc<StreamMetrics>,
    ) -> Result<Self> {
        let (sender, lines) = mpsc::channel(CHANNEL_LINES);
        let max = options.max_line_bytes;
        let task = if options.server {
            let listener = TcpListener::bind(options.address()).await.map_err(|e| {
                Error::External(format!(
                    "tcp source '{name}': cannot listen on {}: {e}",
                    options.address()
                ))
            })?;
            if let Ok(address) = listener.local_addr() {
                metrics.set_listening_on(address);
            }
            SpawnedTask::spawn(accept(listener, sender, max))
        } else {
            let address = options.address();
            let first = match TcpStream::connect(&address).await {
                Ok(stream) => Some(stream),
                Err(_) if options.reconnect => None,
                Err(e) => {
                    return Err(Error::External(format!(
                        "tcp source '{name}': cannot connect to {address}: {e}"
                    )))
                }
            };
            SpawnedTask::spawn(connect(address, first, options.reconnect, sender, max))
        };
        Ok(TcpSource {
            lines,
            decoder: LineDecoder::new(
                schema,
                options.format,
                options.ignore_parse_errors,
                format!("tcp source '{name}'"),
            ),
            metrics,
            failed: None,
            _tasks: task,
        })
    }

    /// The next batch: up to 8192 lines, or what arrived within 50 ms of the
    /// first; `None` when the stream has ended.
    pub async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        loop {
            let Some(first) = self.lines.recv().await else {
                return Ok(None);
            };
            let mut lines = vec![first];
            let deadline = tokio::time::Instant::now() + BATCH_DELAY;
            while lines.len() < BATCH_ROWS {
                match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                    Ok(Some(line)) => lines.push(line),
                    Ok(None) | Err(_) => break,
                }
            }
            let decoded = self.decoder.decode(&lines)?;
            self.metrics.add_malformed(decoded.skipped);
            match (decoded.batch, decoded.error) {
                (Some(batch), error) => {
                    self.failed = error;
                    return Ok(Some(batch));
                }
                (None, Some(error)) => return Err(error),
                (None, None) => {}
            }
        }
    }
}

/// Accepts producers for ever, each read by a task of its own.
async fn accept(listener: TcpListener, sender: mpsc::Sender<Line>, max: usize) {
    let mut readers = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, peer)) = accepted {
                    readers.spawn(read_lines(stream, peer.to_string(), sender.clone(), max));
                }
            }
            Some(_) = readers.join_next() => {}
        }
    }
}

/// Reads the connection until it closes; with `reconnect`, connects again
/// with backoff, for ever.
async fn connect(
    address: String,
    mut stream: Option<TcpStream>,
    reconnect: bool,
    sender: mpsc::Sender<Line>,
    max: usize,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if let Some(connection) = stream.take() {
            backoff = Duration::from_millis(100);
            if !read_lines(connection, address.clone(), sender.clone(), max).await {
                return; // the query has gone
            }
        }
        if !reconnect {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
        stream = TcpStream::connect(&address).await.ok();
    }
}

/// Sends the lines of `reader` until it ends; false when the receiver has
/// gone. Lines over `max` bytes are cut and marked.
async fn read_lines(
    reader: impl AsyncRead + Unpin,
    peer: String,
    sender: mpsc::Sender<Line>,
    max: usize,
) -> bool {
    let peer: Arc<str> = Arc::from(peer);
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let mut line = Vec::new();
    let mut too_long = false;
    let mut number = 0u64;
    while let Ok(buf) = reader.fill_buf().await {
        if buf.is_empty() {
            break;
        }
        let (chunk, complete) = match buf.iter().position(|b| *b == b'\n') {
            Some(end) => (&buf[..end], Some(end + 1)),
            None => (buf, None),
        };
        let room = max.saturating_sub(line.len());
        too_long |= chunk.len() > room;
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let consumed = complete.unwrap_or(buf.len());
        reader.consume(consumed);
        if complete.is_some() {
            number += 1;
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let bytes = std::mem::take(&mut line);
            let skip_blank = bytes.is_empty() && !too_long;
            if !skip_blank {
                let sent = sender
                    .send(Line {
                        bytes,
                        number,
                        peer: Arc::clone(&peer),
                        too_long,
                        complete: true,
                    })
                    .await;
                if sent.is_err() {
                    return false;
                }
            }
            too_long = false;
        }
    }
    // The producer closed mid-line: a half record, malformed.
    if !line.is_empty() || too_long {
        number += 1;
        let sent = sender
            .send(Line {
                bytes: line,
                number,
                peer,
                too_long,
                complete: false,
            })
            .await;
        return sent.is_ok();
    }
    true
}
