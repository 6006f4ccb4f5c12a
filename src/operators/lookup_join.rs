//! The join of a stream with a bounded table (the enrichment join): the
//! table is read once, when the query starts, into a hash table on its join
//! keys; each batch of the stream is probed against it as it arrives.
//!
//! ```text
//!   table (read once) ──keys──▶ HashMap<key bytes, row numbers>
//!                                     ▲ probe
//!   stream batch ──keys──────────────┘──▶ pairs ──residual filter──▶ joined rows
//!                                              └─ LEFT: unmatched rows, table side NULL
//! ```
//!
//! INNER, and LEFT with the stream as the kept side (a stream row is joined
//! with the table as it stands, never revisited): append-only. The rows
//! carry the join's own columns, left side first, for the rest of the query
//! to read through a stand-in. The state is the table; it is not
//! checkpointed (it is read again when the query resumes).

use std::sync::Arc;

// DataFusion's own hash map (hashbrown, a fast hasher): keys are hashed
// for every row held and probed.
use datafusion::arrow::array::{Array, BooleanArray, UInt32Array};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::HashMap;
use datafusion::physical_expr::PhysicalExpr;

use super::join_rows::{key_rows, take_columns};
use super::{Operator, Output};
use crate::error::{Error, Result};

/// Which side of the join the stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamSide {
    Left,
    Right,
}

/// The join's shape, as the planner found it.
pub struct LookupJoinSpec {
    /// The bounded table's name, for EXPLAIN and errors.
    pub table_name: String,
    /// Which side the stream is on.
    pub stream_side: StreamSide,
    /// True for an outer join keeping every stream row (LEFT JOIN with the
    /// stream on the left, RIGHT JOIN with it on the right).
    pub keep_unmatched: bool,
    /// The equi-join keys over the stream's rows, and over the table's.
    pub stream_keys: Vec<Arc<dyn PhysicalExpr>>,
    pub table_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// The rest of the ON condition, over the joined rows.
    pub residual: Option<Arc<dyn PhysicalExpr>>,
    /// The joined rows' schema (left columns, then right), every column
    /// nullable.
    pub schema: SchemaRef,
}

/// Probes each stream batch against the table's hash table.
pub struct LookupJoinOperator {
    spec: LookupJoinSpec,
    table: RecordBatch,
    /// Row numbers of `table` by join key (row-format bytes); rows with a
    /// NULL key are left out, as NULL equals nothing.
    index: HashMap<Box<[u8]>, Vec<u32>>,
    converter: RowConverter,
}

impl LookupJoinOperator {
    /// Builds the hash table of `table` (all of the bounded table's rows).
    pub fn new(spec: LookupJoinSpec, table: RecordBatch) -> Result<Self> {
        let fields = spec
            .table_keys
            .iter()
            .map(|e| Ok(SortField::new(e.data_type(&table.schema())?)))
            .collect::<Result<Vec<_>>>()?;
        let converter = RowConverter::new(fields).map_err(|e| {
            Error::query(format!(
                "a join with table '{}' cannot use these join keys: {e}",
                spec.table_name
            ))
        })?;
        let (rows, valid) = key_rows(&converter, &spec.table_keys, &table)?;
        let mut index: HashMap<Box<[u8]>, Vec<u32>> = HashMap::new();
        for row in (0..table.num_rows()).filter(|r| valid[*r]) {
            index
                .entry(rows.row(row).as_ref().into())
                .or_default()
                .push(row as u32);
        }
        Ok(LookupJoinOperator {
            spec,
            table,
            index,
            converter,
        })
    }

    /// The stream rows of `batch` joined with the table's.
    fn join(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let (rows, valid) = key_rows(&self.converter, &self.spec.stream_keys, batch)?;
        let mut probe: Vec<u32> = Vec::new();
        let mut found: Vec<u32> = Vec::new();
        for row in (0..batch.num_rows()).filter(|r| valid[*r]) {
            if let Some(matches) = self.index.get(rows.row(row).as_ref()) {
                probe.extend(std::iter::repeat_n(row as u32, matches.len()));
                found.extend(matches);
            }
        }
        let mut joined = self.pairs(batch, &UInt32Array::from(probe.clone()), &found.into())?;
        let mut kept = probe;
        if let Some(residual) = &self.spec.residual {
            let mask = residual.evaluate(&joined)?.into_array(joined.num_rows())?;
            let mask = mask
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| Error::Internal("a join condition that is not boolean".into()))?;
            joined = filter_record_batch(&joined, mask)?;
            kept = kept
                .iter()
                .zip(mask.iter())
                .filter(|(_, keep)| keep.unwrap_or(false))
                .map(|(row, _)| *row)
                .collect();
        }
        if !self.spec.keep_unmatched {
            return Ok(joined);
        }
        let mut matched = vec![false; batch.num_rows()];
        for row in kept {
            matched[row as usize] = true;
        }
        let unmatched: Vec<u32> = (0..batch.num_rows() as u32)
            .filter(|r| !matched[*r as usize])
            .collect();
        if unmatched.is_empty() {
            return Ok(joined);
        }
        let none: UInt32Array = vec![None::<u32>; unmatched.len()].into();
        let padded = self.pairs(batch, &UInt32Array::from(unmatched), &none)?;
        Ok(concat_batches(&self.spec.schema, [&joined, &padded])?)
    }

    /// The joined rows of stream rows `probe` and table rows `found` (NULL
    /// for none), pair by pair.
    fn pairs(
        &self,
        batch: &RecordBatch,
        probe: &UInt32Array,
        found: &UInt32Array,
    ) -> Result<RecordBatch> {
        let stream = take_columns(batch, probe)?;
        let table = take_columns(&self.table, found)?;
        let columns = match self.spec.stream_side {
            StreamSide::Left => [stream, table].concat(),
            StreamSide::Right => [table, stream].concat(),
        };
        Ok(RecordBatch::try_new(
            Arc::clone(&self.spec.schema),
            columns,
        )?)
    }
}

#[async_trait::async_trait]
impl Operator for LookupJoinOperator {
    fn name(&self) -> &'static str {
        "lookup_join"
    }

    fn describe(&self) -> String {
        let kind = match self.spec.keep_unmatched {
            true => "outer",
            false => "inner",
        };
        format!(
            "{kind} join with table '{}': read once into a hash table on {} key(s), each \
             batch probed as it arrives",
            self.spec.table_name,
            self.spec.table_keys.len()
        )
    }

    fn needs_watermark(&self) -> bool {
        false
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        if batch.num_rows() == 0 {
            return Ok(Output::default());
        }
        Ok(Output::batches(vec![self.join(&batch)?]))
    }

    fn state_bytes(&self) -> usize {
        self.table.get_array_memory_size()
            + self
                .index
                .iter()
                .map(|(key, rows)| key.len() + rows.len() * 4 + 48)
                .sum::<usize>()
    }
}
