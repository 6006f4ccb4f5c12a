//! The tcp sink: a job's rows as JSON or CSV lines over TCP.
//!
//! `'mode' = 'client'` (default) connects to `hostname:port` when the job
//! starts and writes every row there; `'mode' = 'server'` listens on
//! `hostname:port` and writes every row to each reader connected at the
//! time (readers that connect later get the rows from then on). Delivery is
//! at least once at best: rows in flight when a connection breaks are lost
//! to that reader.

use std::sync::Arc;

use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::runtime::SpawnedTask;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

use super::line_decoder::LineFormat;
use super::sink::Sink;
use super::tcp::TcpOptions;
use crate::error::{Error, Result};

/// Writes rows as lines to one peer or to every connected reader.
pub struct TcpSink {
    format: LineFormat,
    peers: Arc<Mutex<Vec<TcpStream>>>,
    /// Accepts readers in server mode; dropped with the sink.
    _acceptor: Option<SpawnedTask<()>>,
}

impl TcpSink {
    /// Connects (client mode) or starts listening (server mode).
    pub async fn open(name: &str, options: &TcpOptions) -> Result<Self> {
        let peers = Arc::new(Mutex::new(Vec::new()));
        let acceptor = if options.is_server() {
            let listener = TcpListener::bind(options.address()).await.map_err(|e| {
                Error::External(format!(
                    "tcp sink '{name}': cannot listen on {}: {e}",
                    options.address()
                ))
            })?;
            let readers = Arc::clone(&peers);
            Some(SpawnedTask::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    readers.lock().await.push(stream);
                }
            }))
        } else {
            let stream = TcpStream::connect(options.address()).await.map_err(|e| {
                Error::External(format!(
                    "tcp sink '{name}': cannot connect to {}: {e}",
                    options.address()
                ))
            })?;
            peers.lock().await.push(stream);
            None
        };
        Ok(TcpSink {
            format: options.format(),
            peers,
            _acceptor: acceptor,
        })
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
        let mut peers = self.peers.lock().await;
        let mut alive = Vec::with_capacity(peers.len());
        for mut peer in peers.drain(..) {
            if peer.write_all(&lines).await.is_ok() {
                alive.push(peer);
            }
        }
        *peers = alive;
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        for peer in self.peers.lock().await.iter_mut() {
            let _ = peer.flush().await;
            let _ = peer.shutdown().await;
        }
        Ok(())
    }
}
