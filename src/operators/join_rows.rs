//! What the join operators share: rows' join keys in Arrow's row format
//! (bytes that compare equal when the keys do), columns gathered by row
//! number from one batch or from many held ones, and the NULL columns of
//! an outer join's padded side.

use std::sync::Arc;

use datafusion::arrow::array::{new_null_array, Array, ArrayRef, UInt32Array};
use datafusion::arrow::compute::{interleave, take};
use datafusion::arrow::datatypes::Schema;
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

/// Every column of the rows `picks` (batch position, row) across `batches`,
/// which share one schema of `width` columns, in that order.
pub fn gather_columns(
    batches: &[&RecordBatch],
    width: usize,
    picks: &[(usize, usize)],
) -> Result<Vec<ArrayRef>> {
    (0..width)
        .map(|c| {
            let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
            Ok(interleave(&arrays, picks)?)
        })
        .collect()
}

/// Columns of `schema`'s types holding `rows` NULLs: the missing side of
/// an outer join's padded rows.
pub fn null_columns(schema: &Schema, rows: usize) -> Vec<ArrayRef> {
    schema
        .fields()
        .iter()
        .map(|f| new_null_array(f.data_type(), rows))
        .collect()
}
