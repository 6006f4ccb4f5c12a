//! `WindowSpec`: one window table function's call as operators need it:
//! the kind and sizes, the event-time column, SESSION's keys and the
//! windowed rows' schema. The planner's `WindowTable` holds one beside its
//! input table; operators hold only this.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use super::{assign_fixed, assign_sessions, WindowKind};
use crate::error::Result;

/// A window over an input table, without the table.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSpec {
    /// The input table's name, as written.
    pub source_name: String,
    /// The event-time column's index in the input.
    pub time_index: usize,
    /// SESSION's PARTITION BY columns' indices in the input.
    pub key_indices: Vec<usize>,
    /// The window kind and sizes.
    pub kind: WindowKind,
    /// The input's columns and the window columns.
    pub schema: SchemaRef,
}

impl WindowSpec {
    /// True when `other` windows the same columns the same way (whatever
    /// the input table).
    pub fn same_window(&self, other: &WindowSpec) -> bool {
        self.kind == other.kind
            && self.time_index == other.time_index
            && self.key_indices == other.key_indices
    }

    /// Assigns the rows of `batch` (in the input's schema) to windows,
    /// dropping late rows, those before `earliest` (fixed windows), or
    /// sessionizing all of `batch` (SESSION). Returns the windowed rows and
    /// how many were late.
    pub fn assign(
        &self,
        batch: &RecordBatch,
        earliest: Option<i64>,
    ) -> Result<(RecordBatch, usize)> {
        match self.kind {
            WindowKind::Session { gap } => Ok((
                assign_sessions(gap, batch, self.time_index, &self.key_indices, &self.schema)?,
                0,
            )),
            _ => assign_fixed(&self.kind, batch, self.time_index, &self.schema, earliest),
        }
    }
}
