//! A model's input rows: a query's result kept as the batches it came in,
//! so training reads each column once into its encoding instead of first
//! concatenating every batch into one.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Result;

/// Record batches of one schema.
#[derive(Debug, Clone)]
pub struct Rows {
    /// The schema every batch has.
    pub schema: SchemaRef,
    /// The batches, in order.
    pub batches: Vec<RecordBatch>,
}

impl From<RecordBatch> for Rows {
    fn from(batch: RecordBatch) -> Self {
        Rows {
            schema: batch.schema(),
            batches: vec![batch],
        }
    }
}

impl Rows {
    /// How many rows there are.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Whether `name` is a column.
    pub fn has_column(&self, name: &str) -> bool {
        self.schema.index_of(name).is_ok()
    }

    /// Column `name` of each batch, in order.
    pub fn pieces(&self, name: &str) -> Option<Vec<&ArrayRef>> {
        let index = self.schema.index_of(name).ok()?;
        Some(self.batches.iter().map(|b| b.column(index)).collect())
    }

    /// Column `name` as one array.
    pub fn column(&self, name: &str) -> Result<Option<ArrayRef>> {
        let Some(pieces) = self.pieces(name) else {
            return Ok(None);
        };
        if let [one] = pieces.as_slice() {
            return Ok(Some(ArrayRef::clone(one)));
        }
        let pieces: Vec<&dyn datafusion::arrow::array::Array> =
            pieces.iter().map(|a| a.as_ref()).collect();
        if pieces.is_empty() {
            let field = self.schema.field_with_name(name)?;
            return Ok(Some(datafusion::arrow::array::new_empty_array(
                field.data_type(),
            )));
        }
        Ok(Some(concat(&pieces)?))
    }

    /// The column names, comma-separated (for error messages).
    pub fn column_names(&self) -> String {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}
