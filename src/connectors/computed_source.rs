//! `ComputedColumns`: a stream's source that adds the table's computed
//! columns (`p AS PROCTIME()`, `ts AS TO_TIMESTAMP(t)`) to each batch its
//! connector reads.
//!
//! Connectors whose rows come from outside DataFusion (a socket, the
//! generator) read only the declared physical columns; this wraps their
//! source and evaluates each computed column's expression, planned by
//! DataFusion as the table's view plans it, on every batch. The position
//! is the inner source's: computing columns changes no row.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::DFSchema;
use datafusion::execution::context::SessionState;
use datafusion::physical_expr::PhysicalExpr;

use super::declared::column_expr;
use super::source::{Source, SourcePosition};
use crate::checkpoint::Snapshot;
use crate::error::{Error, Result};
use crate::sql::create_table::{Column, CreateTable};

/// A source that yields the declared columns, computed ones included, from
/// a source of the physical ones.
pub struct ComputedColumns {
    inner: Box<dyn Source>,
    /// Each declared column's name and expression, over the physical
    /// columns.
    columns: Vec<(String, Arc<dyn PhysicalExpr>)>,
    schema: SchemaRef,
}

impl ComputedColumns {
    /// `inner` as is when `definition` declares no computed column;
    /// otherwise wrapped so that its batches of `physical` columns become
    /// batches of `schema`, the table's declared columns.
    pub fn wrap(
        state: &SessionState,
        definition: &CreateTable,
        physical: &Schema,
        schema: SchemaRef,
        inner: Box<dyn Source>,
    ) -> Result<Box<dyn Source>> {
        if !definition
            .columns
            .iter()
            .any(|c| matches!(c, Column::Computed { .. }))
        {
            return Ok(inner);
        }
        let input = DFSchema::try_from(physical.clone())?;
        let columns = definition
            .columns
            .iter()
            .map(|column| {
                let expr = column_expr(state, column, &input)?;
                Ok((column.name(), state.create_physical_expr(expr, &input)?))
            })
            .collect::<Result<Vec<_>>>()
            .map_err(|e| {
                Error::query(format!(
                    "the computed columns of table '{}' cannot be computed on its stream: {e}",
                    definition.table_name()
                ))
            })?;
        Ok(Box::new(ComputedColumns {
            inner,
            columns,
            schema,
        }))
    }
}

#[async_trait::async_trait]
impl Source for ComputedColumns {
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let Some(batch) = self.inner.next_batch().await? else {
            return Ok(None);
        };
        let rows = batch.num_rows();
        let arrays = self
            .columns
            .iter()
            .map(|(name, expr)| {
                expr.evaluate(&batch)
                    .and_then(|value| value.into_array(rows))
                    .map_err(|e| {
                        Error::query(format!(
                            "computed column '{name}' failed on a batch of the stream: {e}"
                        ))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(RecordBatch::try_new(
            Arc::clone(&self.schema),
            arrays,
        )?))
    }

    fn position(&self) -> Option<Box<dyn SourcePosition>> {
        self.inner.position()
    }

    fn resume(&mut self, position: Snapshot) -> Result<()> {
        self.inner.resume(position)
    }
}
