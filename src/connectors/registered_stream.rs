//! `RegisteredStream`: a Rust program's own stream of record batches,
//! registered with [`crate::Engine::register_stream`] as a streaming table
//! with an event-time column and a watermark delay.
//!
//! The stream can be read once: the first query over the table consumes it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use futures::stream::BoxStream;
use futures::StreamExt;

use super::source::Source;
use crate::error::{Error, Result};

/// The batches a program hands to flowsql.
pub type BatchStream = BoxStream<'static, Result<RecordBatch>>;

/// A streaming table fed by a Rust stream.
pub struct RegisteredStream {
    name: String,
    schema: SchemaRef,
    /// The event-time column.
    pub event_time: String,
    /// How far the watermark trails the highest event time seen.
    pub watermark_delay: Duration,
    stream: Mutex<Option<BatchStream>>,
}

impl std::fmt::Debug for RegisteredStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredStream")
            .field("name", &self.name)
            .field("event_time", &self.event_time)
            .field("watermark_delay", &self.watermark_delay)
            .finish_non_exhaustive()
    }
}

impl RegisteredStream {
    /// A table `name` reading `stream`, whose batches have `schema`.
    pub fn try_new(
        name: &str,
        schema: SchemaRef,
        event_time: &str,
        watermark_delay: Duration,
        stream: BatchStream,
    ) -> Result<Self> {
        let field = schema.field_with_name(event_time).map_err(|_| {
            Error::query(format!(
                "stream '{name}' has no event-time column '{event_time}'"
            ))
        })?;
        if !matches!(
            field.data_type(),
            datafusion::arrow::datatypes::DataType::Timestamp(..)
        ) {
            return Err(Error::query(format!(
                "event-time column '{event_time}' of stream '{name}' is {}, not a timestamp",
                field.data_type()
            )));
        }
        Ok(RegisteredStream {
            name: name.to_string(),
            schema,
            event_time: event_time.to_string(),
            watermark_delay,
            stream: Mutex::new(Some(stream)),
        })
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes the stream for a query; it can be read only once.
    pub fn take(&self) -> Result<RegisteredSource> {
        let stream = self
            .stream
            .lock()
            .map_err(|_| Error::Internal("stream lock poisoned".into()))?
            .take()
            .ok_or_else(|| {
                Error::query(format!(
                    "stream '{}' was already read by an earlier query; register it again to read it again",
                    self.name
                ))
            })?;
        Ok(RegisteredSource { stream })
    }
}

/// The reading end of a registered stream.
pub struct RegisteredSource {
    stream: BatchStream,
}

/// A program's stream cannot be replayed: it has no position.
#[async_trait::async_trait]
impl Source for RegisteredSource {
    /// The next batch, or `None` when the program's stream ends.
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        self.stream.next().await.transpose()
    }
}

#[async_trait::async_trait]
impl TableProvider for RegisteredStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Err(DataFusionError::Internal(format!(
            "stream '{}' must be read by the streaming planner",
            self.name
        )))
    }
}
