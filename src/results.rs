//! `QueryStream`: the rows of a running query, as an async stream of Arrow
//! record batches.

use std::pin::Pin;
use std::task::{Context, Poll};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use futures::Stream;

use crate::error::{Error, Result};

/// The results of one statement. Poll it with `futures::StreamExt::next`.
///
/// Dropping the stream cancels the query: DataFusion stops the tasks that
/// produce it.
pub struct QueryStream {
    inner: SendableRecordBatchStream,
}

impl QueryStream {
    pub(crate) fn new(inner: SendableRecordBatchStream) -> Self {
        QueryStream { inner }
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
