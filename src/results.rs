//! `QueryStream`: the rows of a running query, as an async stream of Arrow
//! record batches.

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::runtime::SpawnedTask;
use datafusion::execution::SendableRecordBatchStream;
use futures::Stream;

use crate::error::{Error, Result};
use crate::metrics::StreamMetrics;

/// The results of one statement. Poll it with `futures::StreamExt::next`.
///
/// An updating result (an unbounded GROUP BY, a Top-N, a keep-last
/// deduplication) is a changelog: every batch's first column is `op`
/// (UTF-8: `+I`, `-U`, `+U` or `-D`, never null, marked in its field
/// metadata so a data column named `op` is not taken for it; see
/// [`crate::changelog`]), the data columns after it. An append-only result
/// has no such column. [`crate::changelog::kinds`] and
/// [`crate::changelog::data`] take a batch apart;
/// [`crate::materialized::Materialized`] folds the stream into the table it
/// stands for.
///
/// Dropping the stream cancels the query: DataFusion stops the tasks that
/// produce it.
pub struct QueryStream {
    inner: SendableRecordBatchStream,
    metrics: Option<Arc<StreamMetrics>>,
    /// The statement, to name it when something in it panics.
    statement: Option<String>,
    /// Set once the stream has failed with a panic: it yields nothing more.
    panicked: bool,
}

impl QueryStream {
    pub(crate) fn new(inner: SendableRecordBatchStream) -> Self {
        QueryStream {
            inner,
            metrics: None,
            statement: None,
            panicked: false,
        }
    }

    /// The same stream, naming `statement` in the error a panic becomes.
    pub(crate) fn for_statement(mut self, statement: &str) -> Self {
        self.statement = Some(crate::error::statement_excerpt(statement));
        self
    }

    /// The rows a background task sends on `receiver`; the task is aborted
    /// when the stream is dropped.
    pub(crate) fn from_task(
        schema: SchemaRef,
        receiver: tokio::sync::mpsc::Receiver<Result<RecordBatch>>,
        task: SpawnedTask<()>,
        metrics: Option<Arc<StreamMetrics>>,
    ) -> Self {
        // The state is `None` once a panic has been reported.
        let batches = futures::stream::unfold(Some((receiver, task)), |state| async move {
            let (mut receiver, task) = state?;
            let Some(item) = receiver.recv().await else {
                // The task ended: normally, or by a panic, which must not
                // pass for the end of the rows.
                return match task.join().await {
                    Err(e) if e.is_panic() => Some((
                        Err(Error::from_panic("a query task", e.into_panic()).into()),
                        None,
                    )),
                    _ => None,
                };
            };
            Some((
                item.map_err(datafusion::error::DataFusionError::from),
                Some((receiver, task)),
            ))
        });
        QueryStream {
            inner: Box::pin(
                datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, batches),
            ),
            metrics,
            statement: None,
            panicked: false,
        }
    }

    /// Live counters (rows read, late rows dropped, watermark) when this is
    /// a streaming query; `None` for a batch query.
    pub fn metrics(&self) -> Option<Arc<StreamMetrics>> {
        self.metrics.clone()
    }

    /// True for a query over a stream, whose results arrive as windows close.
    pub fn is_streaming(&self) -> bool {
        self.metrics.is_some()
    }

    /// The schema of every batch the stream yields.
    pub fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    /// Reads the whole stream into memory.
    pub async fn collect(self) -> Result<Vec<RecordBatch>> {
        use futures::TryStreamExt;
        self.try_collect().await
    }
}

impl Stream for QueryStream {
    type Item = Result<RecordBatch>;

    /// A panic anywhere below (DataFusion re-raises its tasks' panics
    /// here) becomes an [`Error::Internal`] naming the statement, and ends
    /// the stream.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.panicked {
            return Poll::Ready(None);
        }
        let polled =
            std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.as_mut().poll_next(cx)));
        match polled {
            Ok(poll) => poll.map(|item| item.map(|batch| batch.map_err(Error::from))),
            Err(payload) => {
                self.panicked = true;
                let what = match &self.statement {
                    Some(statement) => format!("the statement '{statement}'"),
                    None => "a query".to_string(),
                };
                Poll::Ready(Some(Err(Error::from_panic(&what, payload))))
            }
        }
    }
}

impl std::fmt::Debug for QueryStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryStream")
            .field("schema", &self.schema())
            .finish()
    }
}
