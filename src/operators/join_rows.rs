//! What the join operators share: rows' join keys in Arrow's row format
//! (bytes that compare equal when the keys do), and columns gathered by
//! row number.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, Rows};
use datafusion::physical_expr::PhysicalExpr;

use crate::error::Result;

/// The row-format keys `keys` of `batch`'s rows, and whether each row has
/// no NULL key (NULL equals nothing, so such a row matches no row).
pub fn key_rows(
    converter: &RowConverter,
    keys: &[Arc<dyn PhysicalExpr>],
    batch: &RecordBatch,
) -> Result<(Rows, Vec<bool>)> {
    let columns = keys
        .iter()
        .map(|k| k.evaluate(batch)?.into_array(batch.num_rows()))
        .collect::<datafusion::error::Result<Vec<ArrayRef>>>()?;
    let valid = (0..batch.num_rows())
        .map(|r| columns.iter().all(|c| c.is_valid(r)))
        .collect();
    Ok((converter.convert_columns(&columns)?, valid))
}

/// Every column of `batch`, its rows `rows` in that order.
pub fn take_columns(batch: &RecordBatch, rows: &UInt32Array) -> Result<Vec<ArrayRef>> {
    batch
        .columns()
        .iter()
        .map(|c| Ok(take(c.as_ref(), rows, None)?))
        .collect()
}
