//! One side's held rows of a stream join: the rows in their arrival
//! batches, what the join keeps per row (match counts, event times, the
//! row whole for retractions), and the index that finds them by join key.
//!
//! The index is hash chains, as DataFusion's hash join builds them: a map
//! from a key's hash to the newest row held with it, and per row the next
//! older row with the same hash. A row is numbered `(batch id << 32) | row`,
//! batch ids counting up as batches arrive, so dropping the oldest batch
//! costs the index nothing: a chain ends at the first row older than the
//! oldest batch held. A probe walks the chain, checks each row's key
//! bytes (hashes may collide) and skips rows taken back.
//!
//! ```text
//!  heads: hash(k) ──▶ batch 7 row 2 ──next──▶ batch 5 row 0 ──next──▶ batch 2 row 9
//!                                                          (batch 2 dropped: the chain ends)
//! ```
//!
//! Rows taken back stay in their batch, skipped, until `compact` keeps
//! only the live ones and links the chains afresh.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::time::Instant;

use datafusion::arrow::array::UInt32Array;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{Row, RowConverter, Rows};
use datafusion::common::hash_utils::RandomState;
use datafusion::common::HashMap;

use super::join_rows::take_columns;
use crate::error::{Error, Result};

/// The end of a chain.
const NONE: u64 = u64::MAX;
/// Batch ids stay below this (the upper half of a row number; `NONE`'s is
/// one more); the chains are renumbered from 0 when they reach it.
const MAX_BATCH_ID: u64 = u32::MAX as u64 - 1;
/// Hashes of join keys (in row format), the same in every run.
const KEY_HASH: RandomState = RandomState::with_seed(0x6a6f_696e);

/// One arrival batch of held rows.
pub struct HeldBatch {
    pub rows: RecordBatch,
    /// How many rows of the other side each row has been joined with (for
    /// an outer side: a row with none is NULL-padded).
    pub matches: Vec<u32>,
    /// Whether each row is still held (not taken back by a retraction).
    pub live: Vec<bool>,
    /// Each row whole, in row format (a changelog side's).
    pub whole: Option<Rows>,
    /// Each row's event time (interval joins; `i64::MIN` for none).
    pub times: Vec<i64>,
    /// When it was held (for the state TTL).
    pub arrived: Instant,
    /// The latest of its event times (`i64::MAX` when it has none).
    pub latest: i64,
    /// Each row's join key, in row format.
    keys: Rows,
    /// Each row's next older row with the same key hash, or `NONE`.
    next: Vec<u64>,
}

impl HeldBatch {
    /// `rows`, all held, with their join keys `keys` (in row format) and
    /// what the join keeps per row.
    pub fn new(
        rows: RecordBatch,
        keys: Rows,
        matches: Vec<u32>,
        whole: Option<Rows>,
        times: Vec<i64>,
        latest: i64,
    ) -> Result<Self> {
        if rows.num_rows() > u32::MAX as usize || keys.num_rows() != rows.num_rows() {
            return Err(Error::Internal(format!(
                "a join cannot hold a batch of {} rows with {} keys",
                rows.num_rows(),
                keys.num_rows()
            )));
        }
        Ok(HeldBatch {
            live: vec![true; rows.num_rows()],
            rows,
            matches,
            whole,
            times,
            arrived: Instant::now(),
            latest,
            keys,
            next: Vec::new(),
        })
    }

    pub fn live_rows(&self) -> usize {
        self.live.iter().filter(|l| **l).count()
    }

    /// The memory its index and per-row values take, beyond `rows`.
    fn extra_bytes(&self) -> usize {
        self.keys.size()
            + self.whole.as_ref().map_or(0, Rows::size)
            + self.next.len() * 8
            + self.matches.len() * 5
            + self.times.len() * 8
    }
}

/// One side's held rows, in arrival batches, indexed by join key.
#[derive(Default)]
pub struct HeldRows {
    batches: VecDeque<HeldBatch>,
    /// The id of `batches[0]` (ids are consecutive).
    first_id: u64,
    /// The newest row (number) with each key hash.
    heads: HashMap<u64, u64>,
    /// Rows held (not taken back).
    rows: usize,
    /// Rows taken back by retractions, still in their batches.
    dead: usize,
}

impl HeldRows {
    /// The batches, oldest first.
    pub fn batches(&self) -> &VecDeque<HeldBatch> {
        &self.batches
    }

    /// Rows held (not taken back).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Rows taken back, still in their batches until compacted.
    pub fn dead(&self) -> usize {
        self.dead
    }

    /// The match count of row `row` of batch `at`.
    pub fn matches_mut(&mut self, at: usize, row: usize) -> &mut u32 {
        &mut self.batches[at].matches[row]
    }

    /// Holds `batch`, the newest.
    pub fn push(&mut self, mut batch: HeldBatch) {
        let mut id = self.first_id + self.batches.len() as u64;
        if id > MAX_BATCH_ID {
            self.relink();
            id = self.batches.len() as u64;
        }
        link(&mut self.heads, id, &mut batch);
        self.rows += batch.live_rows();
        self.batches.push_back(batch);
    }

    /// Drops the oldest batch.
    pub fn pop_front(&mut self) -> Option<HeldBatch> {
        let batch = self.batches.pop_front()?;
        self.first_id += 1;
        let live = batch.live_rows();
        self.rows -= live;
        self.dead -= batch.live.len() - live;
        // The heads of keys no longer held are swept now and then.
        if self.heads.len() > 2 * (self.rows + self.dead) + 1024 {
            let first = self.first_id;
            self.heads.retain(|_, newest| *newest >> 32 >= first);
        }
        Some(batch)
    }

    /// Adds to `into` the held rows (batch position, row) whose join key
    /// is `key`, oldest first.
    pub fn matching(&self, key: Row<'_>, into: &mut Vec<(usize, usize)>) {
        let start = into.len();
        into.extend(self.chain(key));
        into[start..].reverse();
    }

    /// Takes back the oldest held row whose join key is `key` and for
    /// which `is` holds; false if there is none.
    pub fn take_back(&mut self, key: Row<'_>, is: impl Fn(&HeldBatch, usize) -> bool) -> bool {
        let Some((at, row)) = self
            .chain(key)
            .filter(|(at, row)| is(&self.batches[*at], *row))
            .last()
        else {
            return false;
        };
        self.batches[at].live[row] = false;
        self.rows -= 1;
        self.dead += 1;
        true
    }

    /// Keeps only the rows held (each batch with its arrival time), their
    /// keys and whole rows copied by `keys` and `whole`, the converters
    /// that made them, and links the chains afresh.
    pub fn compact(&mut self, keys: &RowConverter, whole: Option<&RowConverter>) -> Result<()> {
        let mut kept = VecDeque::with_capacity(self.batches.len());
        for batch in std::mem::take(&mut self.batches) {
            let live: Vec<u32> = (0..batch.live.len() as u32)
                .filter(|r| batch.live[*r as usize])
                .collect();
            if live.len() == batch.live.len() {
                kept.push_back(batch);
                continue;
            }
            if live.is_empty() {
                continue;
            }
            let picked = UInt32Array::from(live.clone());
            let rows =
                RecordBatch::try_new(batch.rows.schema(), take_columns(&batch.rows, &picked)?)?;
            let whole = match (&batch.whole, whole) {
                (Some(rows), Some(converter)) => Some(pick_rows(converter, rows, &live)),
                _ => None,
            };
            let times = match batch.times.is_empty() {
                true => Vec::new(),
                false => live.iter().map(|r| batch.times[*r as usize]).collect(),
            };
            let matches = live.iter().map(|r| batch.matches[*r as usize]).collect();
            let keys = pick_rows(keys, &batch.keys, &live);
            let mut compacted = HeldBatch::new(rows, keys, matches, whole, times, batch.latest)?;
            compacted.arrived = batch.arrived;
            kept.push_back(compacted);
        }
        self.batches = kept;
        self.dead = 0;
        self.relink();
        Ok(())
    }

    /// The memory held, rows and index.
    pub fn bytes(&self) -> usize {
        let batches: usize = self
            .batches
            .iter()
            .map(|b| b.rows.get_array_memory_size() + b.extra_bytes())
            .sum();
        batches + self.heads.capacity() * 17
    }

    /// The live rows (batch position, row) of the chain of `key`'s hash
    /// whose key is `key`, newest first.
    fn chain<'a>(&'a self, key: Row<'a>) -> impl Iterator<Item = (usize, usize)> + 'a {
        let mut next = self
            .heads
            .get(&KEY_HASH.hash_one(key.as_ref()))
            .copied()
            .unwrap_or(NONE);
        std::iter::from_fn(move || {
            while next != NONE && next >> 32 >= self.first_id {
                let (at, row) = ((next >> 32) - self.first_id, next & u64::from(u32::MAX));
                let (at, row) = (at as usize, row as usize);
                let batch = &self.batches[at];
                next = batch.next[row];
                if batch.live[row] && batch.keys.row(row) == key {
                    return Some((at, row));
                }
            }
            None
        })
    }

    /// Numbers the batches from 0 and links every live row afresh.
    fn relink(&mut self) {
        self.first_id = 0;
        self.heads.clear();
        for (id, batch) in self.batches.iter_mut().enumerate() {
            link(&mut self.heads, id as u64, batch);
        }
    }
}

/// Links `batch`'s live rows, batch id `id`, into the chains of `heads`.
fn link(heads: &mut HashMap<u64, u64>, id: u64, batch: &mut HeldBatch) {
    batch.next.clear();
    batch.next.reserve(batch.live.len());
    for row in 0..batch.live.len() {
        let next = match batch.live[row] {
            true => {
                let hash = KEY_HASH.hash_one(batch.keys.row(row).as_ref());
                heads.insert(hash, (id << 32) | row as u64).unwrap_or(NONE)
            }
            false => NONE,
        };
        batch.next.push(next);
    }
}

/// Rows `picked` of `rows` (made by `converter`), in that order.
fn pick_rows(converter: &RowConverter, rows: &Rows, picked: &[u32]) -> Rows {
    let bytes = picked
        .iter()
        .map(|r| rows.row(*r as usize).as_ref().len())
        .sum();
    let mut out = converter.empty_rows(picked.len(), bytes);
    for row in picked {
        out.push(rows.row(*row as usize));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, Int64Array};
    use datafusion::arrow::datatypes::DataType;
    use datafusion::arrow::row::SortField;
    use std::sync::Arc;

    fn converter() -> RowConverter {
        RowConverter::new(vec![SortField::new(DataType::Int64)]).unwrap()
    }

    fn batch(converter: &RowConverter, keys: &[i64]) -> HeldBatch {
        let column: ArrayRef = Arc::new(Int64Array::from(keys.to_vec()));
        let rows = RecordBatch::try_from_iter([("k", Arc::clone(&column))]).unwrap();
        let keys = converter.convert_columns(&[column]).unwrap();
        let n = rows.num_rows();
        HeldBatch::new(rows, keys, vec![0; n], None, Vec::new(), i64::MAX).unwrap()
    }

    fn find(held: &HeldRows, converter: &RowConverter, key: i64) -> Vec<(usize, usize)> {
        let column: ArrayRef = Arc::new(Int64Array::from(vec![key]));
        let keys = converter.convert_columns(&[column]).unwrap();
        let mut found = Vec::new();
        held.matching(keys.row(0), &mut found);
        found
    }

    #[test]
    fn finds_every_row_of_a_key_oldest_first_and_forgets_dropped_batches() {
        let c = converter();
        let mut held = HeldRows::default();
        held.push(batch(&c, &[1, 2, 1]));
        held.push(batch(&c, &[2, 1]));
        assert_eq!(find(&held, &c, 1), vec![(0, 0), (0, 2), (1, 1)]);
        assert_eq!(find(&held, &c, 2), vec![(0, 1), (1, 0)]);
        assert!(find(&held, &c, 3).is_empty());
        held.pop_front();
        assert_eq!(find(&held, &c, 1), vec![(0, 1)]);
        assert_eq!(held.rows(), 2);
    }

    #[test]
    fn rows_taken_back_are_skipped_then_compacted_away() {
        let c = converter();
        let mut held = HeldRows::default();
        held.push(batch(&c, &[1, 2, 1]));
        held.push(batch(&c, &[1]));
        // The oldest row of key 1 goes first.
        assert!(held.take_back(keys_of(&c, 1).row(0), |_, _| true));
        assert_eq!(find(&held, &c, 1), vec![(0, 2), (1, 0)]);
        assert!(!held.take_back(keys_of(&c, 3).row(0), |_, _| true));
        assert_eq!((held.rows(), held.dead()), (3, 1));
        held.compact(&c, None).unwrap();
        assert_eq!((held.rows(), held.dead()), (3, 0));
        assert_eq!(held.batches()[0].rows.num_rows(), 2);
        assert_eq!(find(&held, &c, 1), vec![(0, 1), (1, 0)]);
        assert_eq!(find(&held, &c, 2), vec![(0, 0)]);
    }

    #[test]
    fn batch_ids_are_renumbered_before_they_run_out() {
        let c = converter();
        let mut held = HeldRows {
            first_id: MAX_BATCH_ID - 1,
            ..HeldRows::default()
        };
        for key in [5, 6, 5] {
            held.push(batch(&c, &[key]));
        }
        assert_eq!(held.first_id, 0);
        assert_eq!(find(&held, &c, 5), vec![(0, 0), (2, 0)]);
        held.pop_front();
        assert_eq!(find(&held, &c, 5), vec![(1, 0)]);
        assert_eq!(find(&held, &c, 6), vec![(0, 0)]);
    }

    fn keys_of(converter: &RowConverter, key: i64) -> Rows {
        let column: ArrayRef = Arc::new(Int64Array::from(vec![key]));
        converter.convert_columns(&[column]).unwrap()
    }
}
