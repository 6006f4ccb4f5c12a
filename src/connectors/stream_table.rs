//! `StreamTable`: the tables a streaming query can read, seen the same way by
//! the planner: a filesystem table with a WATERMARK, a tcp or nexmark table,
//! or a Rust program's registered stream. Each gives a name, a watermark expression and a source
//! of batches.

use std::any::Any;

use datafusion::catalog::TableProvider;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{col, lit, Expr};
use datafusion::sql::sqlparser::ast::{self, ExprWithAlias};

use std::sync::Arc;

use super::registered_stream::RegisteredStream;
use super::source::Source;
use super::ConnectorTable;
use crate::error::Result;
use crate::metrics::StreamMetrics;
use crate::sql::create_table::Column;

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

    /// The columns of its `PRIMARY KEY` (none for a registered stream).
    pub fn primary_key(&self) -> Vec<String> {
        match self {
            StreamTable::Connector(table) => table
                .definition()
                .primary_key
                .iter()
                .map(crate::sql::create_table::normalize)
                .collect(),
            StreamTable::Registered(_) => Vec::new(),
        }
    }

    /// True when `column` is computed by `PROCTIME()` (`p AS PROCTIME()`):
    /// the processing time a window may run on.
    pub fn is_processing_time(&self, column: &str) -> bool {
        let StreamTable::Connector(table) = self else {
            return false;
        };
        table.definition().columns.iter().any(|c| {
            c.name() == column
                && matches!(c, Column::Computed { expr, .. } if is_proctime_call(expr))
        })
    }

    /// The stream's watermark; `None` for a stream without event time.
    pub fn watermark(&self, state: &SessionState, schema: &DFSchema) -> Result<Option<Watermark>> {
        match self {
            StreamTable::Connector(table) => {
                let Some(watermark) = table.definition().watermark.as_ref() else {
                    return Ok(table
                        .implied_watermark()
                        .filter(|time| schema.has_column_with_unqualified_name(time))
                        .map(|time| Watermark {
                            expr: col(time),
                            text: format!("FOR {time} AS {time}"),
                            column: time.to_string(),
                        }));
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
    ) -> Result<Box<dyn Source>> {
        match self {
            StreamTable::Connector(table) => table.open_source(state, metrics).await,
            StreamTable::Registered(stream) => Ok(Box::new(stream.take()?)),
        }
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
            StreamTable::Connector(table) => table.describe(),
            StreamTable::Registered(stream) => {
                format!("source: registered stream '{}'", stream.name())
            }
        }
    }
}

/// True for the SQL expression `PROCTIME()`.
fn is_proctime_call(expr: &ast::Expr) -> bool {
    match expr {
        ast::Expr::Function(f) => f.name.to_string().eq_ignore_ascii_case("proctime"),
        ast::Expr::Nested(inner) => is_proctime_call(inner),
        _ => false,
    }
}
