//! Rows and keys as Arrow row-format bytes, as the keyed operators (Top-N,
//! OVER aggregates) hold them: one converter for the partition keys and
//! one for whole rows, made once per operator.

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::physical_expr::PhysicalExpr;

use crate::error::{Error, Result};

/// Converts the `PARTITION BY` keys and whole rows of one operator's input.
pub struct RowBytes {
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    /// `None` without `PARTITION BY` (every row in one partition).
    keys: Option<RowConverter>,
    rows: RowConverter,
}

impl RowBytes {
    /// Converters for rows of `schema` partitioned by `partition_by`;
    /// `what` names the operator in errors ("OVER aggregates").
    pub fn new(
        partition_by: &[Arc<dyn PhysicalExpr>],
        schema: &Schema,
        what: &str,
    ) -> Result<Self> {
        let refuse = |doing: &str, e: datafusion::arrow::error::ArrowError| {
            Error::query(format!("{what} over a stream cannot {doing}: {e}"))
        };
        let keys = match partition_by.is_empty() {
            true => None,
            false => Some(
                RowConverter::new(
                    partition_by
                        .iter()
                        .map(|e| Ok(SortField::new(e.data_type(schema)?)))
                        .collect::<Result<Vec<_>>>()?,
                )
                .map_err(|e| refuse("partition by these columns", e))?,
            ),
        };
        let rows = RowConverter::new(
            schema
                .fields()
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )
        .map_err(|e| refuse("hold rows of these types", e))?;
        Ok(RowBytes {
            partition_by: partition_by.to_vec(),
            keys,
            rows,
        })
    }

    /// The partition keys of `batch`'s rows (`None`: one partition).
    pub fn partitions(&self, batch: &RecordBatch) -> Result<Option<Rows>> {
        let Some(converter) = &self.keys else {
            return Ok(None);
        };
        let n = batch.num_rows();
        let columns = self
            .partition_by
            .iter()
            .map(|e| Ok(e.evaluate(batch)?.into_array(n)?))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(converter.convert_columns(&columns)?))
    }

    /// Row `i`'s partition key bytes (empty without `PARTITION BY`).
    pub fn partition_of(partitions: &Option<Rows>, i: usize) -> Box<[u8]> {
        partitions
            .as_ref()
            .map_or(Box::default(), |p| p.row(i).data().into())
    }

    /// The converter of whole rows.
    pub fn rows(&self) -> &RowConverter {
        &self.rows
    }
}
