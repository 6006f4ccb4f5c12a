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
//! The channel is bounded in lines and in bytes (64 MiB), so a slow query
//! slows the readers and memory stays bounded whatever the producers do:
//! at most the queue plus one partial line per connection. Lines longer
//! than `'max-line-bytes'` (default 1 MiB, at most 64 MiB) are cut and
//! treated as malformed, like invalid UTF-8.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::runtime::SpawnedTask;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

use super::line_decoder::{Line, LineDecoder};
use super::options::{TcpOptions, QUEUE_BYTES};
use crate::connectors::source::Source;
use crate::error::{Error, Result};
use crate::metrics::StreamMetrics;

/// Most rows in one batch.
const BATCH_ROWS: usize = 8192;
/// Longest a row waits for its batch to fill.
const BATCH_DELAY: Duration = Duration::from_millis(50);
/// Lines buffered between the socket readers and the query.
const CHANNEL_LINES: usize = 4 * BATCH_ROWS;

/// The reading end of a tcp table.
pub struct TcpSource {
    lines: mpsc::Receiver<Line>,
    /// Bytes the queue may still take: readers take a line's worth before
    /// sending it, the source gives them back once it has decoded it.
    queue_bytes: Arc<Semaphore>,
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
        let queue_bytes = Arc::new(Semaphore::new(QUEUE_BYTES));
        let limits = Limits {
            max_line_bytes: options.max_line_bytes,
            queue_bytes: Arc::clone(&queue_bytes),
            idle_timeout: options.server.then_some(options.idle_timeout),
        };
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
            SpawnedTask::spawn(accept(listener, sender, limits, options.max_connections))
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
            SpawnedTask::spawn(connect(address, first, options.reconnect, sender, limits))
        };
        Ok(TcpSource {
            lines,
            queue_bytes,
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
}

#[async_trait::async_trait]
impl Source for TcpSource {
    /// The next batch: up to 8192 lines, or what arrived within 50 ms of the
    /// first; `None` when the stream has ended.
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
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
            self.queue_bytes
                .add_permits(lines.iter().map(|l| queued_bytes(&l.bytes)).sum());
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

/// How the socket readers are bounded.
#[derive(Clone)]
struct Limits {
    max_line_bytes: usize,
    queue_bytes: Arc<Semaphore>,
    /// Server mode: a producer silent this long is disconnected.
    idle_timeout: Option<Duration>,
}

/// The bytes a line takes of the queue's budget (at least one, so that
/// empty lines count too).
fn queued_bytes(line: &[u8]) -> usize {
    line.len().max(1)
}

/// Accepts producers for ever, each read by a task of its own, at most
/// `max_connections` at once: more wait in the listen backlog until one
/// closes.
async fn accept(
    listener: TcpListener,
    sender: mpsc::Sender<Line>,
    limits: Limits,
    max_connections: usize,
) {
    let mut readers = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept(), if readers.len() < max_connections => {
                if let Ok((stream, peer)) = accepted {
                    readers.spawn(read_lines(stream, peer.to_string(), sender.clone(), limits.clone()));
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
    limits: Limits,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if let Some(connection) = stream.take() {
            backoff = Duration::from_millis(100);
            if !read_lines(connection, address.clone(), sender.clone(), limits.clone()).await {
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

/// Sends the lines of `reader` until it ends (or, with an idle timeout, is
/// silent that long); false when the receiver has gone. Lines over the
/// limit are cut and marked.
async fn read_lines(
    reader: impl AsyncRead + Unpin,
    peer: String,
    sender: mpsc::Sender<Line>,
    limits: Limits,
) -> bool {
    let peer: Arc<str> = Arc::from(peer);
    let max = limits.max_line_bytes;
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let mut line = Vec::new();
    let mut too_long = false;
    let mut number = 0u64;
    let send = |bytes: Vec<u8>, number: u64, too_long: bool, complete: bool| {
        let sender = sender.clone();
        let budget = Arc::clone(&limits.queue_bytes);
        let peer = Arc::clone(&peer);
        async move {
            // Bounded by max_line_bytes (at most QUEUE_BYTES), so it fits.
            let Ok(permits) = budget.acquire_many(queued_bytes(&bytes) as u32).await else {
                return false;
            };
            permits.forget();
            let line = Line {
                bytes,
                number,
                peer,
                too_long,
                complete,
            };
            sender.send(line).await.is_ok()
        }
    };
    loop {
        let filled = match limits.idle_timeout {
            Some(idle) => match tokio::time::timeout(idle, reader.fill_buf()).await {
                Ok(filled) => filled,
                Err(_) => break, // silent too long: disconnected
            },
            None => reader.fill_buf().await,
        };
        let Ok(buf) = filled else {
            break;
        };
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
            if !skip_blank && !send(bytes, number, too_long, true).await {
                return false;
            }
            too_long = false;
        }
    }
    // The producer closed (or went silent) mid-line: a half record, malformed.
    if !line.is_empty() || too_long {
        number += 1;
        return send(line, number, too_long, false).await;
    }
    true
}
