//! `QueryStream`: the rows of a running query, as an async stream of Arrow
//! record batches.

use std::pin::Pin;
use std::task::{Context, Poll};

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use futures::Stream;

use crate::error::{Error, Result};
use crate::plan::metrics::StreamMetrics;

/// The results of one statement. Poll it with `futures::StreamExt::next`.
///
/// Dropping the stream cancels the query: DataFusion stops the tasks that
/// produce it.
pub struct QueryStream {
    inner: SendableRecordBatchStream,
    metrics: Option<Arc<StreamMetrics>>,
}

impl QueryStream {
    pub(crate) fn new(inner: SendableRecordBatchStream) -> Self {
        QueryStream {
            inner,
            metrics: None,
        }
    }

    /// The rows a background task sends on `receiver`; the task is aborted
    /// when the stream is dropped.
    pub(crate) fn from_task(
        schema: SchemaRef,
        receiver: tokio::sync::mpsc::Receiver<Result<RecordBatch>>,
        task: datafusion::common::runtime::SpawnedTask<()>,
        metrics: Option<Arc<StreamMetrics>>,
    ) -> Self {
        let batches =
            futures::stream::unfold((receiver, task), |(mut receiver, task)| async move {
                let item = receiver.recv().await?;
                Some((
                    item.map_err(datafusion::error::DataFusionError::from),
                    (receiver, task),
                ))
            });
        QueryStream {
            inner: Box::pin(
                datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, batches),
            ),
            metrics,
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

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner
            .as_mut()
            .poll_next(cx)
            .map(|item| item.map(|batch| batch.map_err(Error::from)))
    }
}

impl std::fmt::Debug for QueryStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryStream")
            .field("schema", &self.schema())
            .finish()
    }
}
