//! `StreamTable`: the tables a streaming query can read, seen the same way by
//! the planner: a filesystem table with a WATERMARK, a tcp or nexmark table,
//! or a Rust program's registered stream. Each gives a name, a watermark expression and a source
//! of batches.

use std::any::Any;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{col, lit, Expr};
use datafusion::sql::sqlparser::ast::ExprWithAlias;

use std::sync::Arc;

use super::filesystem::stream::FileStream;
use super::nexmark::source::{NexmarkOptions, NexmarkSource};
use super::registered_stream::{RegisteredSource, RegisteredStream};
use super::tcp::source::{TcpOptions, TcpSource};
use super::ConnectorTable;
use crate::checkpoint::{Position, Progress};
use crate::error::Result;
use crate::metrics::StreamMetrics;

/// A table that is a stream.
pub enum StreamTable<'a> {
    /// `CREATE TABLE ... WITH ('connector' = ...)` with a WATERMARK, or over tcp.
    Connector(&'a ConnectorTable),
    /// A stream registered by a Rust program.
    Registered(&'a RegisteredStream),
}

/// A stream's `WATERMARK FOR column AS expr`.
pub struct Watermark {
    /// The expression, over the table's columns.
    pub expr: Expr,
    /// How to describe it (EXPLAIN).
    pub text: String,
    /// The event-time column it is computed from.
    pub column: String,
}

/// Where a running query reads its stream's batches from.
pub enum StreamSource {
    /// Files, in path order.
    Files(Box<FileStream>),
    /// Lines from TCP sockets.
    Tcp(Box<TcpSource>),
    /// Generated Nexmark events.
    Nexmark(Box<NexmarkSource>),
    /// A program's stream.
    Registered(RegisteredSource),
}

impl StreamSource {
    /// The next batch, or `None` at the end of the stream.
    pub async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        match self {
            StreamSource::Files(files) => files.next_batch().await,
            StreamSource::Tcp(tcp) => tcp.next_batch().await,
            StreamSource::Nexmark(generator) => generator.next_batch().await,
            StreamSource::Registered(source) => source.next_batch().await,
        }
    }

    /// Where the source stands after the last batch it gave.
    pub fn position(&self) -> Position {
        match self {
            StreamSource::Files(files) => files.position(),
            StreamSource::Nexmark(generator) => generator.position(),
            StreamSource::Tcp(_) | StreamSource::Registered(_) => Position::Unreplayable,
        }
    }

    /// Goes on from `progress`, taken from the same source before a restart.
    /// A TCP socket or a program's stream cannot be replayed: it goes on
    /// with what arrives next.
    pub fn resume(&mut self, progress: &Progress) {
        match self {
            StreamSource::Files(files) => files.resume(progress),
            StreamSource::Nexmark(generator) => generator.resume(progress),
            StreamSource::Tcp(_) | StreamSource::Registered(_) => {}
        }
    }
}

impl<'a> StreamTable<'a> {
    /// `provider` as a stream, if it is one.
    pub fn of(provider: &'a dyn TableProvider) -> Option<Self> {
        let any: &dyn Any = provider;
        if let Some(table) = any.downcast_ref::<ConnectorTable>() {
            return table.is_stream().then_some(StreamTable::Connector(table));
        }
        any.downcast_ref::<RegisteredStream>()
            .map(StreamTable::Registered)
    }

    /// The table's name.
    pub fn name(&self) -> String {
        match self {
            StreamTable::Connector(table) => table.definition().table_name(),
            StreamTable::Registered(stream) => stream.name().to_string(),
        }
    }

    /// The stream's watermark; `None` for a stream without event time.
    pub fn watermark(&self, state: &SessionState, schema: &DFSchema) -> Result<Option<Watermark>> {
        match self {
            StreamTable::Connector(table) => {
                let Some(watermark) = table.definition().watermark.as_ref() else {
                    // Nexmark events are in time order: date_time is the watermark.
                    let time = "date_time";
                    if table.is_nexmark() && schema.has_column_with_unqualified_name(time) {
                        return Ok(Some(Watermark {
                            expr: col(time),
                            text: format!("FOR {time} AS {time}"),
                            column: time.to_string(),
                        }));
                    }
                    return Ok(None);
                };
                let expr = state.create_logical_expr_from_sql_expr(
                    ExprWithAlias {
                        expr: watermark.expr.clone(),
                        alias: None,
                    },
                    schema,
                )?;
                Ok(Some(Watermark {
                    expr,
                    text: format!("FOR {} AS {}", watermark.column, watermark.expr),
                    column: crate::sql::create_table::normalize(&watermark.column),
                }))
            }
            StreamTable::Registered(stream) => {
                let delay = stream.watermark_delay;
                let nanos = i64::try_from(delay.as_nanos()).unwrap_or(i64::MAX);
                let interval = ScalarValue::new_interval_mdn(0, 0, nanos);
                Ok(Some(Watermark {
                    expr: col(stream.event_time.as_str()) - lit(interval),
                    text: format!("FOR {0} AS {0} - {delay:?}", stream.event_time),
                    column: stream.event_time.clone(),
                }))
            }
        }
    }

    /// Starts reading the stream (connects or listens, for tcp).
    pub async fn open(
        &self,
        state: SessionState,
        metrics: &Arc<StreamMetrics>,
    ) -> Result<StreamSource> {
        Ok(match self {
            StreamTable::Connector(table) if table.is_tcp() => {
                let options = TcpOptions::from_table(table.definition())?;
                StreamSource::Tcp(Box::new(
                    TcpSource::open(&self.name(), &options, table.schema(), Arc::clone(metrics))
                        .await?,
                ))
            }
            StreamTable::Connector(table) if table.is_nexmark() => {
                let options = NexmarkOptions::from_table(table.definition())?;
                StreamSource::Nexmark(Box::new(NexmarkSource::open(&options, table.schema())?))
            }
            StreamTable::Connector(table) => {
                StreamSource::Files(Box::new(FileStream::open(state, table).await?))
            }
            StreamTable::Registered(stream) => StreamSource::Registered(stream.take()?),
        })
    }

    /// The table's definition, whitespace-normalized: its `CREATE TABLE`
    /// statement, or a registered stream's name and schema.
    pub fn definition(&self) -> String {
        let text = match self {
            StreamTable::Connector(table) => table.definition().definition.clone(),
            StreamTable::Registered(stream) => {
                format!("registered stream {} {}", stream.name(), stream.schema())
            }
        };
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// One line for EXPLAIN.
    pub fn describe(&self) -> String {
        match self {
            StreamTable::Connector(table) if table.is_tcp() => {
                match TcpOptions::from_table(table.definition()) {
                    Ok(options) => options.describe(&self.name()),
                    Err(_) => format!("source: tcp stream '{}'", self.name()),
                }
            }
            StreamTable::Connector(table) if table.is_nexmark() => {
                match NexmarkOptions::from_table(table.definition()) {
                    Ok(options) => options.describe(&self.name()),
                    Err(_) => format!("source: nexmark generator '{}'", self.name()),
                }
            }
            StreamTable::Connector(table) => format!(
                "source: files of stream '{}', in path order",
                table.definition().table_name()
            ),
            StreamTable::Registered(stream) => {
                format!("source: registered stream '{}'", stream.name())
            }
        }
    }
}
