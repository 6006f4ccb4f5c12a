//! The tcp sink: a job's rows as JSON or CSV lines over TCP.
//!
//! `'mode' = 'client'` (default) connects to `hostname:port` when the job
//! starts and writes every row there. When the peer goes away the job
//! fails, saying how many rows reached it; with `'reconnect' = 'true'` the
//! sink connects again (with backoff, for up to a minute) and goes on from
//! the batch that failed.
//!
//! `'mode' = 'server'` listens on `hostname:port` and writes every row to
//! each reader connected at the time (readers that connect later get the
//! rows from then on). Each reader has a writer task and a buffer of its
//! own: the job goes at the pace of the fastest reader (it waits while
//! every reader has more than [`READER_AHEAD`] bytes queued), and a reader
//! that falls more than [`READER_BUFFER`] bytes behind is disconnected, so
//! one that stops reading stalls nobody; `SHOW JOBS` says so.
//!
//! Delivery is at least once at best: rows in flight when a connection
//! breaks are lost to that reader.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::runtime::SpawnedTask;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex};

use super::line_decoder::LineFormat;
use super::options::TcpOptions;
use crate::connectors::sink::Sink;
use crate::error::{Error, Result};

/// How far a server-mode reader may fall behind before it is dropped.
pub const READER_BUFFER: usize = 16 << 20;

/// The job waits while even the fastest reader has this much queued.
pub const READER_AHEAD: usize = 4 << 20;

/// How long a client-mode sink with `'reconnect'` tries to connect again.
const RECONNECT_FOR: Duration = Duration::from_secs(60);

/// Writes rows as lines to one peer or to every connected reader.
pub struct TcpSink {
    name: String,
    address: String,
    format: LineFormat,
    target: Target,
    /// Rows written so far (to the peer, in client mode).
    rows: u64,
    warnings: Vec<String>,
}

enum Target {
    /// The peer, and whether to connect again when it goes away.
    Client {
        stream: Option<TcpStream>,
        reconnect: bool,
    },
    /// The connected readers; the listener accepts more.
    Server {
        readers: Arc<Mutex<Vec<Reader>>>,
        _acceptor: SpawnedTask<()>,
    },
}

/// One server-mode reader: its writer task's queue and how many bytes wait
/// in it.
struct Reader {
    peer: String,
    lines: mpsc::UnboundedSender<Arc<Vec<u8>>>,
    queued: Arc<AtomicUsize>,
    /// Aborted when the reader is dropped.
    writer: SpawnedTask<()>,
}

impl Reader {
    fn new(stream: TcpStream, peer: String) -> Self {
        let (lines, mut pending) = mpsc::unbounded_channel::<Arc<Vec<u8>>>();
        let queued = Arc::new(AtomicUsize::new(0));
        let written = Arc::clone(&queued);
        let writer = SpawnedTask::spawn(async move {
            let mut stream = stream;
            while let Some(bytes) = pending.recv().await {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
                written.fetch_sub(bytes.len(), Ordering::Relaxed);
            }
            let _ = stream.flush().await;
            let _ = stream.shutdown().await;
        });
        Reader {
            peer,
            lines,
            queued,
            writer,
        }
    }

    /// Lets the writer send what it holds and close, for up to a few
    /// seconds.
    async fn close(self) {
        drop(self.lines);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.writer.join()).await;
    }

    /// Queues `bytes`; false when the reader is gone or too far behind.
    fn send(&self, bytes: &Arc<Vec<u8>>) -> std::result::Result<(), String> {
        let queued = self.queued.load(Ordering::Relaxed);
        // A reader that has caught up takes any batch, however large.
        if queued > 0 && queued + bytes.len() > READER_BUFFER {
            return Err(format!(
                "reader {} was disconnected: it fell more than {} MiB behind",
                self.peer,
                READER_BUFFER >> 20
            ));
        }
        self.queued.fetch_add(bytes.len(), Ordering::Relaxed);
        self.lines
            .send(Arc::clone(bytes))
            .map_err(|_| format!("reader {} went away", self.peer))
    }
}

impl TcpSink {
    /// Connects (client mode) or starts listening (server mode).
    pub async fn open(name: &str, options: &TcpOptions) -> Result<Self> {
        let address = options.address();
        let target = if options.is_server() {
            let listener = TcpListener::bind(&address).await.map_err(|e| {
                Error::External(format!(
                    "tcp sink '{name}': cannot listen on {address}: {e}"
                ))
            })?;
            let readers = Arc::new(Mutex::new(Vec::new()));
            let accepted = Arc::clone(&readers);
            let acceptor = SpawnedTask::spawn(async move {
                while let Ok((stream, peer)) = listener.accept().await {
                    accepted
                        .lock()
                        .await
                        .push(Reader::new(stream, peer.to_string()));
                }
            });
            Target::Server {
                readers,
                _acceptor: acceptor,
            }
        } else {
            let stream = TcpStream::connect(&address).await.map_err(|e| {
                Error::External(format!(
                    "tcp sink '{name}': cannot connect to {address}: {e}"
                ))
            })?;
            Target::Client {
                stream: Some(stream),
                reconnect: options.reconnects(),
            }
        };
        Ok(TcpSink {
            name: name.to_string(),
            address,
            format: options.format(),
            target,
            rows: 0,
            warnings: Vec::new(),
        })
    }

    /// The peer went away after `self.rows` rows: connects again with
    /// backoff for up to [`RECONNECT_FOR`], or fails saying so.
    async fn reconnect(&self, cause: std::io::Error) -> Result<TcpStream> {
        let gone = || {
            Error::External(format!(
                "tcp sink '{}': the peer at {} went away after {} rows ({cause}); \
                 set 'reconnect' = 'true' to connect again",
                self.name, self.address, self.rows
            ))
        };
        let Target::Client {
            reconnect: true, ..
        } = &self.target
        else {
            return Err(gone());
        };
        let started = Instant::now();
        let mut backoff = Duration::from_millis(100);
        loop {
            if let Ok(stream) = TcpStream::connect(&self.address).await {
                return Ok(stream);
            }
            if started.elapsed() > RECONNECT_FOR {
                return Err(Error::External(format!(
                    "tcp sink '{}': the peer at {} went away after {} rows ({cause}) and \
                     could not be reached again for {} s",
                    self.name,
                    self.address,
                    self.rows,
                    RECONNECT_FOR.as_secs()
                )));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

#[async_trait::async_trait]
impl Sink for TcpSink {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut lines = Vec::new();
        match self.format {
            LineFormat::Json => {
                let mut writer = LineDelimitedWriter::new(&mut lines);
                writer.write(batch)?;
                writer.finish()?;
            }
            LineFormat::Csv => {
                CsvWriterBuilder::new()
                    .with_header(false)
                    .build(&mut lines)
                    .write(batch)?;
            }
        }
        if let Target::Server { readers, .. } = &self.target {
            let lines = Arc::new(lines);
            let mut readers = readers.lock().await;
            let mut problems = Vec::new();
            readers.retain(|reader| match reader.send(&lines) {
                Ok(()) => true,
                Err(problem) => {
                    problems.push(problem);
                    false
                }
            });
            // The pace of the fastest reader.
            while readers
                .iter()
                .map(|r| r.queued.load(Ordering::Relaxed))
                .min()
                .is_some_and(|fastest| fastest > READER_AHEAD)
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            drop(readers);
            self.warnings.extend(problems);
        } else {
            loop {
                let written = match &mut self.target {
                    Target::Client {
                        stream: Some(peer), ..
                    } => peer.write_all(&lines).await,
                    _ => return Err(Error::Internal("a tcp sink without its peer".into())),
                };
                let Err(cause) = written else {
                    break;
                };
                let again = self.reconnect(cause).await?;
                if let Target::Client { stream, .. } = &mut self.target {
                    *stream = Some(again);
                }
            }
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        match &mut self.target {
            Target::Client { stream, .. } => {
                if let Some(peer) = stream {
                    let _ = peer.flush().await;
                    let _ = peer.shutdown().await;
                }
            }
            Target::Server { readers, .. } => {
                let readers = std::mem::take(&mut *readers.lock().await);
                for reader in readers {
                    reader.close().await;
                }
            }
        }
        Ok(())
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}
