//! The join of two streams: each side's rows are held, keyed on the join
//! keys; a batch arriving on one side is probed against the other side's
//! held rows, then held itself, so every pair is found once, by the later
//! of its two rows.
//!
//! ```text
//!  side 0 batch ──probe──▶ held[1] ──pairs──▶ residual filter ──▶ joined rows
//!       └──────hold──────▶ held[0]     (and the same from side 1)
//!  watermark ──▶ rows that can no longer match are dropped
//!                (outer sides: emitted first, the other side NULL, if unmatched)
//! ```
//!
//! An interval join (`l.ts BETWEEN r.ts - a AND r.ts + b`) knows when a row
//! can no longer match: once the watermark passes its time plus the bound,
//! as no later row of the other side is early enough. Its state is the rows
//! within the bounds of the watermark, and an outer side's unmatched rows
//! are emitted then, so the result is append-only. A join without bounds
//! (a regular join) holds every row, or each for `table.exec.state.ttl`
//! from its arrival. Its outer sides make it updating, as in Flink: an
//! outer row without a match is emitted at once, NULL-padded (`+I`), and
//! retracted (`-D`) when its first match arrives, before the joined rows
//! (`+I`). Rows are held in arrival
//! batches, dropped whole once the last of a batch's rows is past its
//! bound; the index skips dropped batches and is rebuilt when half stale.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

// DataFusion's own hash map (hashbrown, a fast hasher): keys are hashed
// for every row held and probed.
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, UInt32Array};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::HashMap;
use datafusion::physical_expr::PhysicalExpr;

use super::join_rows::{gather_columns, key_rows, null_columns, take_columns};
use super::{Operator, Output};
use crate::changelog::{with_kind, ChangelogMode, RowKind};
use crate::checkpoint::Snapshot;
use crate::error::{Error, Result};
use crate::window::event_times;

/// The time bounds of an interval join: `lower <= right.ts - left.ts <= upper`
/// (milliseconds), the event-time column of each side's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub times: [usize; 2],
    pub lower: i64,
    pub upper: i64,
}

/// The join's shape, as the planner found it. Index 0 is the left side.
pub struct StreamJoinSpec {
    /// The streams of each side, for EXPLAIN.
    pub names: [String; 2],
    /// The equi-join keys over each side's rows.
    pub keys: [Vec<Arc<dyn PhysicalExpr>>; 2],
    /// The rest of the ON condition, over the joined rows (the time bounds
    /// too, unless the times are in milliseconds, where `interval` checks
    /// them exactly).
    pub residual: Option<Arc<dyn PhysicalExpr>>,
    /// The joined rows' schema (left columns, then right), every column
    /// nullable.
    pub schema: SchemaRef,
    /// Each side's rows' schema.
    pub sides: [SchemaRef; 2],
    /// Per side, whether its unmatched rows are kept (LEFT, RIGHT, FULL).
    pub outer: [bool; 2],
    /// The time bounds, for an interval join.
    pub interval: Option<Interval>,
    /// `table.exec.state.ttl`: how long a join without bounds holds a row.
    pub ttl: Option<Duration>,
}

/// Holds both sides' rows and joins each arrival with the other side.
pub struct StreamJoinOperator {
    spec: StreamJoinSpec,
    converter: RowConverter,
    held: [Held; 2],
    watermark: Option<i64>,
}

/// One side's held rows, in arrival batches.
#[derive(Default)]
struct Held {
    batches: VecDeque<HeldBatch>,
    /// The id of `batches[0]` (ids are consecutive).
    first_id: u64,
    /// Held rows by join key: (batch id, row).
    index: HashMap<Box<[u8]>, Vec<(u64, u32)>>,
    /// Entries in `index`, stale ones (of dropped batches) included.
    indexed: usize,
    rows: usize,
}

struct HeldBatch {
    rows: RecordBatch,
    /// Whether each row has been joined (for an outer side).
    matched: Vec<bool>,
    /// Each row's event time (interval joins; `i64::MIN` for none).
    times: Vec<i64>,
    /// When it was held (for the state TTL).
    arrived: Instant,
    /// The latest of them.
    latest: i64,
}

impl StreamJoinOperator {
    pub fn new(spec: StreamJoinSpec) -> Result<Self> {
        let types = |side: usize| -> Result<Vec<DataType>> {
            spec.keys[side]
                .iter()
                .map(|e| Ok(e.data_type(&spec.sides[side])?))
                .collect()
        };
        let (left, right) = (types(0)?, types(1)?);
        if left != right {
            return Err(Error::Internal(format!(
                "join keys of different types: {left:?} and {right:?}"
            )));
        }
        let converter = RowConverter::new(left.into_iter().map(SortField::new).collect())
            .map_err(|e| Error::query(format!("a join cannot use these join keys: {e}")))?;
        Ok(StreamJoinOperator {
            spec,
            converter,
            held: [Held::default(), Held::default()],
            watermark: None,
        })
    }

    /// Joins `batch` of side `side` with the other side's held rows, then
    /// holds it.
    fn arrive(&mut self, side: usize, batch: RecordBatch) -> Result<Vec<RecordBatch>> {
        self.forget_idle()?;
        let other = 1 - side;
        let (keys, valid) = key_rows(&self.converter, &self.spec.keys[side], &batch)?;
        let mut mine: Vec<u32> = Vec::new();
        let mut theirs: Vec<(usize, usize)> = Vec::new();
        let held = &self.held[other];
        // An interval join passes over the pairs out of its bounds before
        // building them (on millisecond times the planner leaves the bounds
        // out of the residual condition: this is the check).
        let times = self.row_times(side, &batch)?;
        let within = |row: usize, at: usize, their: usize| match self.spec.interval {
            Some(interval) => {
                let (mine, theirs) = (times[row], held.batches[at].times[their]);
                let apart = match side {
                    0 => theirs.saturating_sub(mine),
                    _ => mine.saturating_sub(theirs),
                };
                (interval.lower..=interval.upper).contains(&apart)
            }
            None => true,
        };
        for row in (0..batch.num_rows()).filter(|r| valid[*r]) {
            for (id, their) in held.index.get(keys.row(row).as_ref()).into_iter().flatten() {
                if *id < held.first_id {
                    continue;
                }
                let at = (id - held.first_id) as usize;
                if within(row, at, *their as usize) {
                    mine.push(row as u32);
                    theirs.push((at, *their as usize));
                }
            }
        }
        let mut out = Vec::new();
        let mut matched = vec![false; batch.num_rows()];
        if !mine.is_empty() {
            let joined = self.pairs(side, &batch, &mine, &theirs)?;
            let keep = match &self.spec.residual {
                Some(residual) => {
                    let mask = residual.evaluate(&joined)?.into_array(joined.num_rows())?;
                    mask.as_any()
                        .downcast_ref::<BooleanArray>()
                        .cloned()
                        .ok_or_else(|| {
                            Error::Internal("a join condition that is not boolean".into())
                        })?
                }
                None => BooleanArray::from(vec![true; joined.num_rows()]),
            };
            // A held outer row meeting its first match: its NULL-padded
            // row, emitted when it arrived, is taken back (updating only).
            let retracts = self.updating() && self.spec.outer[other];
            let mut retracted = Vec::new();
            for (i, kept) in keep.iter().enumerate() {
                if kept.unwrap_or(false) {
                    matched[mine[i] as usize] = true;
                    let (at, row) = theirs[i];
                    let flag = &mut self.held[other].batches[at].matched[row];
                    if retracts && !*flag {
                        retracted.push((at, row));
                    }
                    *flag = true;
                }
            }
            if !retracted.is_empty() {
                let padded = self.held_padded(other, &retracted)?;
                out.push(self.change(padded, RowKind::Delete)?);
            }
            let joined = filter_record_batch(&joined, &keep)?;
            out.push(self.change(joined, RowKind::Insert)?);
        }
        // A row without a key matches nothing, ever: an outer side's is
        // emitted now; the rest are held.
        // Without bounds (updating), an outer row with no match yet is
        // emitted now too, and taken back at its first match.
        if self.spec.outer[side] {
            let now = self.updating();
            let never: Vec<u32> = (0..batch.num_rows() as u32)
                .filter(|r| !valid[*r as usize] || (now && !matched[*r as usize]))
                .collect();
            if !never.is_empty() {
                let padded = self.padded(side, &batch, &never)?;
                out.push(self.change(padded, RowKind::Insert)?);
            }
        }
        let hold: Vec<u32> = (0..batch.num_rows() as u32)
            .filter(|r| valid[*r as usize])
            .collect();
        if !hold.is_empty() {
            let rows = if hold.len() == batch.num_rows() {
                batch
            } else {
                take_rows(&batch, &UInt32Array::from(hold.clone()))?
            };
            let matched = hold.iter().map(|r| matched[*r as usize]).collect();
            let keys = match rows.num_rows() == keys.num_rows() {
                true => keys,
                false => key_rows(&self.converter, &self.spec.keys[side], &rows)?.0,
            };
            self.hold(side, rows, &keys, matched)?;
        }
        Ok(out)
    }

    /// True for a join without time bounds with an outer side: its
    /// NULL-padded rows are taken back when a match comes.
    fn updating(&self) -> bool {
        self.spec.interval.is_none() && self.spec.outer.contains(&true)
    }

    /// `rows` as the join emits them: as changes of kind `kind` when it
    /// is updating, as they are otherwise.
    fn change(&self, rows: RecordBatch, kind: RowKind) -> Result<RecordBatch> {
        match self.updating() {
            true => with_kind(&rows, kind),
            false => Ok(rows),
        }
    }

    /// Side `side`'s held rows `rows` (batch position, row), the other
    /// side NULL.
    fn held_padded(&self, side: usize, rows: &[(usize, usize)]) -> Result<RecordBatch> {
        let mine = self.gather_held(side, rows)?;
        let nulls = null_columns(&self.spec.sides[1 - side], rows.len());
        self.joined(side, mine, nulls)
    }

    /// Adds `rows` (keys `keys`) to side `side`'s held rows.
    fn hold(
        &mut self,
        side: usize,
        rows: RecordBatch,
        keys: &Rows,
        matched: Vec<bool>,
    ) -> Result<()> {
        let times = self.row_times(side, &rows)?;
        let latest = match self.spec.interval {
            Some(_) => times.iter().copied().max().unwrap_or(i64::MIN),
            None => i64::MAX,
        };
        let held = &mut self.held[side];
        let id = held.first_id + held.batches.len() as u64;
        for row in 0..rows.num_rows() {
            held.index
                .entry(keys.row(row).as_ref().into())
                .or_default()
                .push((id, row as u32));
        }
        held.indexed += rows.num_rows();
        held.rows += rows.num_rows();
        held.batches.push_back(HeldBatch {
            rows,
            matched,
            times,
            latest,
            arrived: Instant::now(),
        });
        Ok(())
    }

    /// Drops the held batches no later row can match (the watermark past
    /// their latest time plus the bound), emitting an outer side's
    /// unmatched rows.
    fn expire(&mut self, watermark: i64) -> Result<Vec<RecordBatch>> {
        let Some(interval) = self.spec.interval else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for side in 0..2 {
            // A left row meets right rows up to `upper` later; a right row
            // meets left rows from `lower` earlier.
            let reach = match side {
                0 => interval.upper,
                _ => interval.lower.saturating_neg(),
            };
            while let Some(front) = self.held[side].batches.front() {
                if front.latest.saturating_add(reach) >= watermark {
                    break;
                }
                let dropped = self.held[side]
                    .batches
                    .pop_front()
                    .ok_or_else(|| Error::Internal("a held batch vanished".into()))?;
                let held = &mut self.held[side];
                held.first_id += 1;
                held.rows -= dropped.rows.num_rows();
                if self.spec.outer[side] {
                    out.extend(self.unmatched(side, &dropped)?);
                }
            }
            self.reindex_if_stale(side)?;
        }
        Ok(out)
    }

    /// The event time of each of `batch`'s rows (of side `side`), for an
    /// interval join (`i64::MIN` for a NULL time, which joins nothing);
    /// empty otherwise.
    fn row_times(&self, side: usize, batch: &RecordBatch) -> Result<Vec<i64>> {
        let Some(interval) = self.spec.interval else {
            return Ok(Vec::new());
        };
        let times = event_times(batch.column(interval.times[side]))?;
        Ok(times.iter().map(|t| t.unwrap_or(i64::MIN)).collect())
    }

    /// Drops the rows a join without bounds has held longer than the state
    /// TTL (as Flink's TTL does, from when a row was written: join rows are
    /// never updated). An inner join's only: nothing is emitted.
    fn forget_idle(&mut self) -> Result<()> {
        let (Some(ttl), None) = (self.spec.ttl, self.spec.interval) else {
            return Ok(());
        };
        for side in 0..2 {
            let held = &mut self.held[side];
            while held
                .batches
                .front()
                .is_some_and(|b| b.arrived.elapsed() > ttl)
            {
                if let Some(dropped) = held.batches.pop_front() {
                    held.first_id += 1;
                    held.rows -= dropped.rows.num_rows();
                }
            }
            self.reindex_if_stale(side)?;
        }
        Ok(())
    }

    /// Rebuilds side `side`'s index once most of its entries are stale.
    fn reindex_if_stale(&mut self, side: usize) -> Result<()> {
        let held = &self.held[side];
        if held.indexed <= 2 * held.rows + 1024 {
            return Ok(());
        }
        let mut index: HashMap<Box<[u8]>, Vec<(u64, u32)>> = HashMap::new();
        for (at, batch) in held.batches.iter().enumerate() {
            let (keys, _) = key_rows(&self.converter, &self.spec.keys[side], &batch.rows)?;
            let id = held.first_id + at as u64;
            for row in 0..batch.rows.num_rows() {
                index
                    .entry(keys.row(row).as_ref().into())
                    .or_default()
                    .push((id, row as u32));
            }
        }
        let held = &mut self.held[side];
        held.indexed = held.rows;
        held.index = index;
        Ok(())
    }

    /// The unmatched rows of `batch` (of side `side`), the other side NULL.
    fn unmatched(&self, side: usize, batch: &HeldBatch) -> Result<Option<RecordBatch>> {
        let rows: Vec<u32> = (0..batch.matched.len() as u32)
            .filter(|r| !batch.matched[*r as usize])
            .collect();
        match rows.is_empty() {
            true => Ok(None),
            false => Ok(Some(self.padded(side, &batch.rows, &rows)?)),
        }
    }

    /// Joined rows of `batch`'s rows `mine` (side `side`) and the other
    /// side's held rows `theirs` (batch position, row), pair by pair.
    fn pairs(
        &self,
        side: usize,
        batch: &RecordBatch,
        mine: &[u32],
        theirs: &[(usize, usize)],
    ) -> Result<RecordBatch> {
        let mine = take_columns(batch, &UInt32Array::from(mine.to_vec()))?;
        let theirs = self.gather_held(1 - side, theirs)?;
        self.joined(side, mine, theirs)
    }

    /// Every column of side `side`'s held rows `rows` (batch position, row).
    fn gather_held(&self, side: usize, rows: &[(usize, usize)]) -> Result<Vec<ArrayRef>> {
        let held: Vec<&RecordBatch> = self.held[side].batches.iter().map(|b| &b.rows).collect();
        gather_columns(&held, self.spec.sides[side].fields().len(), rows)
    }

    /// `batch`'s rows `rows` (side `side`), the other side NULL.
    fn padded(&self, side: usize, batch: &RecordBatch, rows: &[u32]) -> Result<RecordBatch> {
        let mine = take_columns(batch, &UInt32Array::from(rows.to_vec()))?;
        let nulls = null_columns(&self.spec.sides[1 - side], rows.len());
        self.joined(side, mine, nulls)
    }

    fn joined(
        &self,
        side: usize,
        mine: Vec<ArrayRef>,
        theirs: Vec<ArrayRef>,
    ) -> Result<RecordBatch> {
        let columns = match side {
            0 => [mine, theirs].concat(),
            _ => [theirs, mine].concat(),
        };
        Ok(RecordBatch::try_new(
            Arc::clone(&self.spec.schema),
            columns,
        )?)
    }
}

fn take_rows(batch: &RecordBatch, rows: &UInt32Array) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        batch.schema(),
        take_columns(batch, rows)?,
    )?)
}

const SIDES: [&str; 2] = ["left", "right"];

#[async_trait::async_trait]
impl Operator for StreamJoinOperator {
    fn name(&self) -> &'static str {
        "join"
    }

    fn describe(&self) -> String {
        let kind = match self.spec.outer {
            [false, false] => "inner",
            [true, false] => "left",
            [false, true] => "right",
            [true, true] => "full",
        };
        let [left, right] = &self.spec.names;
        match self.spec.interval {
            Some(i) => format!(
                "interval join ({kind}) of {left} and {right}: {right}'s time - {left}'s in \
                 [{} ms, {} ms], rows held until the watermark passes their bound",
                i.lower, i.upper
            ),
            None => match self.spec.ttl {
                Some(ttl) => format!(
                    "join ({kind}) of {left} and {right}: every row of both held for {ttl:?} \
                     (table.exec.state.ttl)"
                ),
                None => format!("join ({kind}) of {left} and {right}: every row of both held"),
            },
        }
    }

    fn needs_watermark(&self) -> bool {
        self.spec.interval.is_some()
    }

    fn changelog_mode(&self, input: ChangelogMode) -> ChangelogMode {
        match self.updating() {
            true => ChangelogMode::Updating,
            false => input,
        }
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        self.process_input(0, batch).await
    }

    async fn process_input(&mut self, side: usize, batch: RecordBatch) -> Result<Output> {
        if side > 1 {
            return Err(Error::Internal(format!("a join has no side {side}")));
        }
        if batch.num_rows() == 0 {
            return Ok(Output::default());
        }
        Ok(Output::batches(self.arrive(side, batch)?))
    }

    async fn on_watermark(&mut self, watermark: i64) -> Result<Output> {
        self.watermark = Some(watermark);
        Ok(Output {
            batches: self.expire(watermark)?,
            watermark: Some(watermark),
        })
    }

    async fn on_end_of_input(&mut self) -> Result<Output> {
        let mut out = Vec::new();
        for side in 0..2 {
            let held = std::mem::take(&mut self.held[side]);
            // (An updating join emitted its unmatched rows on arrival.)
            if self.spec.outer[side] && !self.updating() {
                for batch in &held.batches {
                    out.extend(self.unmatched(side, batch)?);
                }
            }
        }
        Ok(Output::batches(out))
    }

    fn state_bytes(&self) -> usize {
        self.held
            .iter()
            .map(|h| {
                let rows: usize = h
                    .batches
                    .iter()
                    .map(|b| b.rows.get_array_memory_size() + b.matched.len() + b.times.len() * 8)
                    .sum();
                rows + h.index.keys().map(|k| k.len() + 48).sum::<usize>() + h.indexed * 12
            })
            .sum()
    }

    fn held_rows(&self) -> usize {
        self.held.iter().map(|h| h.rows).sum()
    }

    async fn snapshot(&mut self) -> Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        if let Some(watermark) = self.watermark {
            snapshot.set("watermark", watermark);
        }
        for (side, name) in SIDES.iter().enumerate() {
            let held = &self.held[side];
            let rows: Vec<RecordBatch> = held.batches.iter().map(|b| b.rows.clone()).collect();
            let flags = Arc::new(Schema::new(vec![Field::new(
                "matched",
                DataType::Boolean,
                false,
            )]));
            let matched = held
                .batches
                .iter()
                .map(|b| {
                    let column: ArrayRef = Arc::new(BooleanArray::from(b.matched.clone()));
                    Ok(RecordBatch::try_new(Arc::clone(&flags), vec![column])?)
                })
                .collect::<Result<Vec<_>>>()?;
            snapshot.set_table(format!("{name}/rows"), rows);
            snapshot.set_table(format!("{name}/matched"), matched);
        }
        Ok(snapshot)
    }

    fn restore(&mut self, mut snapshot: Snapshot) -> Result<()> {
        self.watermark = snapshot.take("watermark");
        for (side, name) in SIDES.iter().enumerate() {
            let rows = snapshot.take_table(&format!("{name}/rows"));
            let matched = snapshot.take_table(&format!("{name}/matched"));
            if rows.len() != matched.len() {
                return Err(Error::query(format!(
                    "the checkpoint of '{}' is damaged: {} held batches, {} match lists",
                    self.describe(),
                    rows.len(),
                    matched.len()
                )));
            }
            self.held[side] = Held::default();
            for (rows, flags) in rows.into_iter().zip(matched) {
                let flags = flags
                    .column(0)
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .map(|f| f.iter().map(|v| v.unwrap_or(false)).collect::<Vec<_>>())
                    .ok_or_else(|| Error::query("a join checkpoint's match list is damaged"))?;
                let rows = RecordBatch::try_new(
                    Arc::clone(&self.spec.sides[side]),
                    rows.columns().to_vec(),
                )?;
                let (keys, _) = key_rows(&self.converter, &self.spec.keys[side], &rows)?;
                self.hold(side, rows, &keys, flags)?;
            }
        }
        snapshot.expect_consumed("join operator")
    }
}
