//! `Materialized`: a changelog folded into the table it stands for, kept
//! up to date as batches arrive (what the shell's `table` result mode
//! shows, and what an embedding program can keep of an updating query).
//!
//! ```text
//! +I a, +I b, -U a, +U a'  ─▶  rows {a', b}, in order of arrival
//! ```
//!
//! Rows are kept as Arrow row-format bytes with a count (a changelog may
//! hold the same row twice); a retraction of a row not held is ignored.

use std::collections::HashMap;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};

use crate::changelog::{self, RowKind};
use crate::error::Result;

/// The table a changelog folds to.
pub struct Materialized {
    schema: SchemaRef,
    converter: RowConverter,
    /// Each distinct row, in order of first arrival, with its count.
    rows: Vec<(Box<[u8]>, usize)>,
    index: HashMap<Box<[u8]>, usize>,
}

impl Materialized {
    /// An empty table of `schema` (the data columns, without `op`).
    pub fn new(schema: SchemaRef) -> Result<Self> {
        let converter = RowConverter::new(
            schema
                .fields()
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )?;
        Ok(Materialized {
            schema,
            converter,
            rows: Vec::new(),
            index: HashMap::new(),
        })
    }

    /// Applies one batch: a changelog (`op` first) or, for an append-only
    /// result, inserts.
    pub fn apply(&mut self, batch: &RecordBatch) -> Result<()> {
        let (kinds, data) = match changelog::is_changelog(batch.schema().as_ref()) {
            true => (changelog::kinds(batch)?, changelog::data(batch)?),
            false => (vec![RowKind::Insert; batch.num_rows()], batch.clone()),
        };
        let rows = self.converter.convert_columns(data.columns())?;
        for (i, kind) in kinds.into_iter().enumerate() {
            let row = rows.row(i).data();
            match (kind.is_retraction(), self.index.get(row)) {
                (false, Some(&at)) => self.rows[at].1 += 1,
                (false, None) => {
                    self.index.insert(row.into(), self.rows.len());
                    self.rows.push((row.into(), 1));
                }
                (true, Some(&at)) => self.rows[at].1 = self.rows[at].1.saturating_sub(1),
                (true, None) => {}
            }
        }
        // Forget rows retracted to nothing, now and then.
        if self.rows.len() > 64
            && self.rows.iter().filter(|(_, n)| *n == 0).count() * 2 > self.rows.len()
        {
            self.rows.retain(|(_, n)| *n > 0);
            self.index = self
                .rows
                .iter()
                .enumerate()
                .map(|(i, (row, _))| (row.clone(), i))
                .collect();
        }
        Ok(())
    }

    /// How many rows the table holds.
    pub fn len(&self) -> usize {
        self.rows.iter().map(|(_, n)| n).sum()
    }

    /// True when the table holds no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The table's rows, in order of first arrival.
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let parser = self.converter.parser();
        let rows = self
            .rows
            .iter()
            .flat_map(|(row, n)| std::iter::repeat_n(row, *n))
            .map(|row| parser.parse(row));
        let columns = self.converter.convert_rows(rows)?;
        if columns.is_empty() || self.is_empty() {
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}
