//! `SELECT DISTINCT` and `UNION` over a stream: each distinct row is
//! emitted once, the first time it arrives, and later copies are dropped
//! (Flink emits `SELECT DISTINCT` over an append-only stream as
//! append-only, the same way).
//!
//! ```text
//! batch ──▶ rows as bytes (Arrow row format) ──▶ seen before? drop : remember, emit
//! ```
//!
//! The set of rows seen is the operator's state, checkpointed as one
//! binary column. It grows with the number of distinct rows: a stream with
//! unboundedly many distinct rows needs unbounded memory (Flink bounds it
//! with a state TTL, which flowsql does not have yet). For a UNION of
//! several streams, the chains' operators share one set, so a row read
//! from one stream is a duplicate on the other; the first chain's operator
//! checkpoints it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryArray, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};

use super::{Operator, Output};
use crate::checkpoint::Snapshot;
use crate::error::{Error, Result};

/// The rows seen so far, shared by the chains of one UNION.
pub type SeenRows = Arc<Mutex<Seen>>;

/// Rows seen, as Arrow row-format bytes, and roughly what they take.
#[derive(Debug, Default)]
pub struct Seen {
    rows: HashSet<Box<[u8]>>,
    bytes: usize,
}

impl Seen {
    /// Remembers `row`; true when it is new.
    fn insert(&mut self, row: &[u8]) -> bool {
        if self.rows.contains(row) {
            return false;
        }
        // The bytes, the box and the set's slot.
        self.bytes += row.len() + 32;
        self.rows.insert(row.into())
    }
}

/// Passes on the first copy of every distinct row.
pub struct DistinctOperator {
    seen: SeenRows,
    /// This operator checkpoints the shared set (the first chain's).
    owns_state: bool,
    converter: Option<RowConverter>,
}

impl DistinctOperator {
    /// An operator remembering rows in `seen` (shared by the chains of one
    /// UNION); `owns_state` for exactly one of them.
    pub fn new(seen: SeenRows, owns_state: bool) -> Self {
        DistinctOperator {
            seen,
            owns_state,
            converter: None,
        }
    }

    fn converter(&mut self, batch: &RecordBatch) -> Result<&RowConverter> {
        if self.converter.is_none() {
            let fields = batch
                .schema()
                .fields()
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect();
            self.converter = Some(RowConverter::new(fields).map_err(|e| {
                Error::query(format!(
                    "SELECT DISTINCT over a stream cannot compare rows of these columns: {e}"
                ))
            })?);
        }
        self.converter
            .as_ref()
            .ok_or_else(|| Error::Internal("no row converter".into()))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Seen>> {
        self.seen
            .lock()
            .map_err(|_| Error::Internal("the distinct rows' lock is poisoned".into()))
    }
}

#[async_trait::async_trait]
impl Operator for DistinctOperator {
    fn name(&self) -> &'static str {
        "distinct"
    }

    fn describe(&self) -> String {
        "distinct: each distinct row emitted once, when it first arrives".to_string()
    }

    fn needs_watermark(&self) -> bool {
        false
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        if batch.num_rows() == 0 {
            return Ok(Output::default());
        }
        let rows = self.converter(&batch)?.convert_columns(batch.columns())?;
        let mut seen = self.lock()?;
        let first: Vec<u32> = (0..rows.num_rows())
            .filter(|&i| seen.insert(rows.row(i).as_ref()))
            .map(|i| i as u32)
            .collect();
        drop(seen);
        if first.len() == batch.num_rows() {
            return Ok(Output::batches(vec![batch]));
        }
        let taken = take_record_batch(&batch, &UInt32Array::from(first))?;
        Ok(Output::batches(vec![taken]))
    }

    /// The rows seen, with a hash set's own cost per entry (counted by the
    /// operator that checkpoints them, once for a UNION's chains).
    fn state_bytes(&self) -> usize {
        if !self.owns_state {
            return 0;
        }
        self.seen.lock().map_or(0, |seen| seen.bytes)
    }

    async fn snapshot(&mut self) -> Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        if self.owns_state {
            let seen = self.lock()?;
            let rows: BinaryArray = seen.rows.iter().map(|r| Some(r.as_ref())).collect();
            drop(seen);
            if !rows.is_empty() {
                let column = Arc::new(rows) as ArrayRef;
                snapshot.set_table("seen", vec![RecordBatch::try_from_iter([("row", column)])?]);
            }
        }
        Ok(snapshot)
    }

    fn restore(&mut self, mut snapshot: Snapshot) -> Result<()> {
        let tables = snapshot.take_table("seen");
        let mut seen = self.lock()?;
        for batch in tables {
            let Some(rows) = batch.column(0).as_binary_opt::<i32>() else {
                return Err(Error::query(
                    "the checkpoint's distinct rows are not readable; it was taken by a \
                     different query",
                ));
            };
            for row in rows.iter().flatten() {
                seen.insert(row);
            }
        }
        drop(seen);
        snapshot.expect_consumed("distinct")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};

    fn batch(keys: &[i64], names: &[&str]) -> RecordBatch {
        RecordBatch::try_from_iter([
            ("k", Arc::new(Int64Array::from(keys.to_vec())) as ArrayRef),
            ("n", Arc::new(StringArray::from(names.to_vec())) as ArrayRef),
        ])
        .unwrap()
    }

    fn rows(output: &Output) -> Vec<(i64, String)> {
        let mut out = Vec::new();
        for b in &output.batches {
            let k = b
                .column(0)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let n = b.column(1).as_string::<i32>();
            for i in 0..b.num_rows() {
                out.push((k.value(i), n.value(i).to_string()));
            }
        }
        out
    }

    #[tokio::test]
    async fn emits_each_row_once_across_batches_and_restarts() {
        let mut op = DistinctOperator::new(SeenRows::default(), true);
        let out = op
            .process_batch(batch(&[1, 1, 2], &["a", "a", "a"]))
            .await
            .unwrap();
        assert_eq!(rows(&out), [(1, "a".into()), (2, "a".into())]);
        let out = op
            .process_batch(batch(&[2, 1, 1], &["a", "b", "a"]))
            .await
            .unwrap();
        assert_eq!(rows(&out), [(1, "b".into())]);

        // A checkpoint taken now, restored into a fresh operator.
        let snapshot = op.snapshot().await.unwrap();
        let mut restored = DistinctOperator::new(SeenRows::default(), true);
        restored.restore(snapshot).unwrap();
        let out = restored
            .process_batch(batch(&[1, 3, 2], &["b", "c", "a"]))
            .await
            .unwrap();
        assert_eq!(rows(&out), [(3, "c".into())]);
    }

    #[tokio::test]
    async fn chains_of_a_union_share_what_they_have_seen() {
        let seen = SeenRows::default();
        let mut first = DistinctOperator::new(Arc::clone(&seen), true);
        let mut second = DistinctOperator::new(seen, false);
        first.process_batch(batch(&[1], &["a"])).await.unwrap();
        let out = second
            .process_batch(batch(&[1, 2], &["a", "a"]))
            .await
            .unwrap();
        assert_eq!(rows(&out), [(2, "a".into())]);
        assert!(second.snapshot().await.unwrap().is_empty());
        assert!(!first.snapshot().await.unwrap().is_empty());
    }
}
