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
//! are emitted then, so the result is append-only.
//!
//! A join without bounds (a regular join) holds every row, or each for
//! `table.exec.state.ttl` from its arrival, and follows Flink's
//! `StreamingJoinOperator`:
//!
//! - Its outer sides make it updating: an outer row without a match is
//!   emitted at once, NULL-padded (`+I`), and taken back (`-D`) when its
//!   first match arrives, before the joined rows (`+I`). Each held outer
//!   row counts its matches for that.
//! - A side may itself be updating (a GROUP BY's result): its retractions
//!   (`-U`, `-D`) take the held row back out and retract the rows it was
//!   joined into; an outer row whose last match goes emits its NULL-padded
//!   row again. An inner join passes the input's kinds on (`+U` joined
//!   with anything is a `+U`); an outer one emits `+I` and `-D` only.
//!
//! Rows are held in arrival batches (`held_rows.rs`, indexed by hash
//! chains), dropped whole once the last of a batch's rows is past its
//! bound, and compacted once half of them are taken back.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, UInt32Array};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::physical_expr::PhysicalExpr;

use super::held_rows::{HeldBatch, HeldRows};
use super::join_rows::{gather_columns, key_rows, null_columns, take_columns};
use super::{Operator, Output};
use crate::changelog::{self, with_kind, ChangelogMode, RowKind};
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
    /// Each side's rows' schema (without the `op` column of a changelog).
    pub sides: [SchemaRef; 2],
    /// Per side, whether its unmatched rows are kept (LEFT, RIGHT, FULL).
    pub outer: [bool; 2],
    /// Per side, whether its rows come as a changelog (an updating query's
    /// `+I`, `-U`, `+U`, `-D`, the `op` column in front) rather than as
    /// appended rows. Only a join without bounds takes one.
    pub changelog: [bool; 2],
    /// The time bounds, for an interval join.
    pub interval: Option<Interval>,
    /// `table.exec.state.ttl`: how long a join without bounds holds a row.
    pub ttl: Option<Duration>,
}

/// Holds both sides' rows and joins each arrival with the other side.
pub struct StreamJoinOperator {
    spec: StreamJoinSpec,
    converter: RowConverter,
    /// Per changelog side, whole rows in row format: a retraction takes
    /// back the held row equal to it.
    whole: [Option<RowConverter>; 2],
    held: [HeldRows; 2],
    watermark: Option<i64>,
}

/// The pairs of a probe that pass the ON condition: the arriving rows,
/// the other side's held rows (batch position, row), pair by pair, and
/// the joined rows.
struct Probe {
    mine: Vec<u32>,
    theirs: Vec<(usize, usize)>,
    joined: RecordBatch,
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
        if spec.interval.is_some() && spec.changelog.contains(&true) {
            return Err(Error::Internal(
                "an interval join of an updating input".into(),
            ));
        }
        let whole = |side: usize| -> Result<Option<RowConverter>> {
            if !spec.changelog[side] {
                return Ok(None);
            }
            let fields = spec.sides[side]
                .fields()
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect();
            let converter = RowConverter::new(fields).map_err(|e| {
                Error::query(format!(
                    "the {} side of join '{}' is updating, and its rows cannot be matched \
                     to their retractions: {e}",
                    SIDES[side], spec.names[side]
                ))
            })?;
            Ok(Some(converter))
        };
        let whole = [whole(0)?, whole(1)?];
        Ok(StreamJoinOperator {
            spec,
            converter,
            whole,
            held: [HeldRows::default(), HeldRows::default()],
            watermark: None,
        })
    }

    /// Joins `batch` of side `side` with the other side's held rows, then
    /// holds it (or, for a changelog's retractions, takes its rows back).
    fn arrive(&mut self, side: usize, batch: RecordBatch) -> Result<Vec<RecordBatch>> {
        self.forget_idle()?;
        if !self.spec.changelog[side] {
            return self.accumulate(side, batch, RowKind::Insert);
        }
        let mut out = Vec::new();
        // Retractions first, then insertions, as every updating operator
        // emits them.
        for (kind, rows) in changelog::split(&batch)? {
            out.extend(match kind.is_retraction() {
                true => self.retract(side, rows, kind)?,
                false => self.accumulate(side, rows, kind)?,
            });
        }
        self.compact_if_dead(side)?;
        Ok(out)
    }

    /// The rows of side `side` whose keys are `keys` (valid where `valid`)
    /// paired with the other side's held rows, and which pairs pass the
    /// rest of the ON condition.
    fn probe(
        &self,
        side: usize,
        batch: &RecordBatch,
        keys: &Rows,
        valid: &[bool],
    ) -> Result<Probe> {
        let mut mine: Vec<u32> = Vec::new();
        let mut theirs: Vec<(usize, usize)> = Vec::new();
        let held = &self.held[1 - side];
        // An interval join passes over the pairs out of its bounds before
        // building them (on millisecond times the planner leaves the bounds
        // out of the residual condition: this is the check).
        let times = self.row_times(side, batch)?;
        let within = |row: usize, at: usize, their: usize| match self.spec.interval {
            Some(interval) => {
                let (mine, theirs) = (times[row], held.batches()[at].times[their]);
                let apart = match side {
                    0 => theirs.saturating_sub(mine),
                    _ => mine.saturating_sub(theirs),
                };
                (interval.lower..=interval.upper).contains(&apart)
            }
            None => true,
        };
        let mut found = Vec::new();
        for row in (0..batch.num_rows()).filter(|r| valid[*r]) {
            found.clear();
            held.matching(keys.row(row), &mut found);
            for &(at, their) in &found {
                if within(row, at, their) {
                    mine.push(row as u32);
                    theirs.push((at, their));
                }
            }
        }
        let joined = match mine.is_empty() {
            true => RecordBatch::new_empty(Arc::clone(&self.spec.schema)),
            false => self.pairs(side, batch, &mine, &theirs)?,
        };
        let Some(residual) = self
            .spec
            .residual
            .as_ref()
            .filter(|_| joined.num_rows() > 0)
        else {
            return Ok(Probe {
                mine,
                theirs,
                joined,
            });
        };
        let mask = residual.evaluate(&joined)?.into_array(joined.num_rows())?;
        let keep = mask
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| Error::Internal("a join condition that is not boolean".into()))?;
        let kept = |i: &usize| keep.value(*i) && keep.is_valid(*i);
        Ok(Probe {
            mine: (0..mine.len()).filter(kept).map(|i| mine[i]).collect(),
            theirs: (0..theirs.len()).filter(kept).map(|i| theirs[i]).collect(),
            joined: filter_record_batch(&joined, keep)?,
        })
    }

    /// Joins `batch` (rows of kind `kind`, `+I` or `+U`) of side `side`
    /// with the other side's held rows, then holds it.
    fn accumulate(
        &mut self,
        side: usize,
        batch: RecordBatch,
        kind: RowKind,
    ) -> Result<Vec<RecordBatch>> {
        let other = 1 - side;
        let (keys, valid) = key_rows(&self.converter, &self.spec.keys[side], &batch)?;
        let probe = self.probe(side, &batch, &keys, &valid)?;
        let mut out = Vec::new();
        let mut matches = vec![0u32; batch.num_rows()];
        // A held outer row meeting its first match: its NULL-padded row,
        // emitted when it arrived, is taken back (updating only).
        let retracts = self.updating() && self.spec.outer[other];
        let mut retracted = Vec::new();
        for (mine, &(at, row)) in probe.mine.iter().zip(&probe.theirs) {
            matches[*mine as usize] += 1;
            let count = self.held[other].matches_mut(at, row);
            if retracts && *count == 0 {
                retracted.push((at, row));
            }
            *count += 1;
        }
        if !retracted.is_empty() {
            let padded = self.held_padded(other, &retracted)?;
            out.push(self.change(padded, RowKind::Delete)?);
        }
        if probe.joined.num_rows() > 0 {
            out.push(self.change(probe.joined, self.joined_kind(kind))?);
        }
        // A row without a key matches nothing, ever: an outer side's is
        // emitted now; the rest are held.
        // Without bounds (updating), an outer row with no match yet is
        // emitted now too, and taken back at its first match.
        if self.spec.outer[side] {
            let now = self.updating();
            let never: Vec<u32> = (0..batch.num_rows() as u32)
                .filter(|r| !valid[*r as usize] || (now && matches[*r as usize] == 0))
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
            let matches = hold.iter().map(|r| matches[*r as usize]).collect();
            let keys = match rows.num_rows() == keys.num_rows() {
                true => keys,
                false => key_rows(&self.converter, &self.spec.keys[side], &rows)?.0,
            };
            self.hold(side, rows, keys, matches)?;
        }
        Ok(out)
    }

    /// Takes `batch` (rows of kind `kind`, `-U` or `-D`) of side `side`
    /// back: retracts the rows it was joined into, then drops the held
    /// rows equal to it. An outer row of the other side left without
    /// matches is NULL-padded again.
    fn retract(
        &mut self,
        side: usize,
        batch: RecordBatch,
        kind: RowKind,
    ) -> Result<Vec<RecordBatch>> {
        let other = 1 - side;
        let (keys, valid) = key_rows(&self.converter, &self.spec.keys[side], &batch)?;
        let probe = self.probe(side, &batch, &keys, &valid)?;
        let mut out = Vec::new();
        let mut matched = vec![false; batch.num_rows()];
        let mut unpaired = Vec::new();
        for (mine, &(at, row)) in probe.mine.iter().zip(&probe.theirs) {
            matched[*mine as usize] = true;
            let count = self.held[other].matches_mut(at, row);
            if self.spec.outer[other] && *count == 1 {
                unpaired.push((at, row));
            }
            *count = count.saturating_sub(1);
        }
        if probe.joined.num_rows() > 0 {
            out.push(self.change(probe.joined, self.joined_kind(kind))?);
        }
        if !unpaired.is_empty() {
            let padded = self.held_padded(other, &unpaired)?;
            out.push(self.change(padded, RowKind::Insert)?);
        }
        if self.spec.outer[side] {
            let alone: Vec<u32> = (0..batch.num_rows() as u32)
                .filter(|r| !matched[*r as usize])
                .collect();
            if !alone.is_empty() {
                let padded = self.padded(side, &batch, &alone)?;
                out.push(self.change(padded, RowKind::Delete)?);
            }
        }
        self.take_back(side, &batch, &keys, &valid)?;
        Ok(out)
    }

    /// Drops, for each of `batch`'s rows (side `side`, keys `keys`), one
    /// held row equal to it. A row not held (dropped by the state TTL, or
    /// never held: its key was NULL) drops nothing.
    fn take_back(
        &mut self,
        side: usize,
        batch: &RecordBatch,
        keys: &Rows,
        valid: &[bool],
    ) -> Result<()> {
        let Some(converter) = &self.whole[side] else {
            return Err(Error::Internal(format!(
                "a retraction on the {} side of a join of appended rows",
                SIDES[side]
            )));
        };
        let whole = converter.convert_columns(batch.columns())?;
        let held = &mut self.held[side];
        for row in (0..batch.num_rows()).filter(|r| valid[*r]) {
            held.take_back(keys.row(row), |batch, their| {
                batch
                    .whole
                    .as_ref()
                    .is_some_and(|w| w.row(their) == whole.row(row))
            });
        }
        Ok(())
    }

    /// Once most of side `side`'s rows are taken back: keeps only the
    /// held ones, each batch with its arrival time, and links them afresh.
    fn compact_if_dead(&mut self, side: usize) -> Result<()> {
        let held = &mut self.held[side];
        if held.dead() <= held.rows() + 1024 {
            return Ok(());
        }
        held.compact(&self.converter, self.whole[side].as_ref())
    }

    /// `rows` (of side `side`) whole in row format, for a changelog side.
    fn whole_rows(&self, side: usize, rows: &RecordBatch) -> Result<Option<Rows>> {
        match &self.whole[side] {
            Some(converter) => Ok(Some(converter.convert_columns(rows.columns())?)),
            None => Ok(None),
        }
    }

    /// True for a join without time bounds with an outer side or an
    /// updating input: its results can be taken back.
    fn updating(&self) -> bool {
        self.spec.interval.is_none()
            && (self.spec.outer.contains(&true) || self.spec.changelog.contains(&true))
    }

    /// The kind of the joined rows of an input row of kind `kind`: its own
    /// in an inner join, as Flink does; an insertion or a deletion when
    /// either side is outer.
    fn joined_kind(&self, kind: RowKind) -> RowKind {
        match (self.spec.outer.contains(&true), kind.is_retraction()) {
            (false, _) => kind,
            (true, false) => RowKind::Insert,
            (true, true) => RowKind::Delete,
        }
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
        keys: Rows,
        matches: Vec<u32>,
    ) -> Result<()> {
        let times = self.row_times(side, &rows)?;
        let whole = self.whole_rows(side, &rows)?;
        let latest = match self.spec.interval {
            Some(_) => times.iter().copied().max().unwrap_or(i64::MIN),
            None => i64::MAX,
        };
        let batch = HeldBatch::new(rows, keys, matches, whole, times, latest)?;
        self.held[side].push(batch);
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
            while let Some(front) = self.held[side].batches().front() {
                if front.latest.saturating_add(reach) >= watermark {
                    break;
                }
                let Some(dropped) = self.held[side].pop_front() else {
                    break;
                };
                if self.spec.outer[side] {
                    out.extend(self.unmatched(side, &dropped)?);
                }
            }
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
        for held in &mut self.held {
            while held
                .batches()
                .front()
                .is_some_and(|b| b.arrived.elapsed() > ttl)
            {
                held.pop_front();
            }
        }
        Ok(())
    }

    /// The unmatched rows of `batch` (of side `side`), the other side NULL.
    fn unmatched(&self, side: usize, batch: &HeldBatch) -> Result<Option<RecordBatch>> {
        let rows: Vec<u32> = (0..batch.matches.len() as u32)
            .filter(|r| batch.matches[*r as usize] == 0 && batch.live[*r as usize])
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
        let held: Vec<&RecordBatch> = self.held[side].batches().iter().map(|b| &b.rows).collect();
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
            None => {
                let held = match self.spec.ttl {
                    Some(ttl) => {
                        format!("every row of both held for {ttl:?} (table.exec.state.ttl)")
                    }
                    None => "every row of both held".to_string(),
                };
                let retracted = match self.spec.changelog {
                    [false, false] => "",
                    [true, false] => ", the left's taken back by its retractions",
                    [false, true] => ", the right's taken back by its retractions",
                    [true, true] => ", each side's taken back by its retractions",
                };
                format!("join ({kind}) of {left} and {right}: {held}{retracted}")
            }
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
                for batch in held.batches() {
                    out.extend(self.unmatched(side, batch)?);
                }
            }
        }
        Ok(Output::batches(out))
    }

    fn state_bytes(&self) -> usize {
        self.held.iter().map(HeldRows::bytes).sum()
    }

    fn held_rows(&self) -> usize {
        self.held.iter().map(HeldRows::rows).sum()
    }

    async fn snapshot(&mut self) -> Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        if let Some(watermark) = self.watermark {
            snapshot.set("watermark", watermark);
        }
        for (side, name) in SIDES.iter().enumerate() {
            let counts = Arc::new(Schema::new(vec![Field::new(
                "matches",
                DataType::UInt32,
                false,
            )]));
            let (mut rows, mut matches) = (Vec::new(), Vec::new());
            // Only the rows still held (not those taken back).
            for batch in self.held[side].batches() {
                let live: Vec<u32> = (0..batch.live.len() as u32)
                    .filter(|r| batch.live[*r as usize])
                    .collect();
                let counts_of = |picked: Vec<u32>| -> Result<RecordBatch> {
                    let column: ArrayRef = Arc::new(UInt32Array::from(picked));
                    Ok(RecordBatch::try_new(Arc::clone(&counts), vec![column])?)
                };
                if live.len() == batch.live.len() {
                    rows.push(batch.rows.clone());
                    matches.push(counts_of(batch.matches.clone())?);
                } else if !live.is_empty() {
                    let picked = live.iter().map(|r| batch.matches[*r as usize]).collect();
                    rows.push(take_rows(&batch.rows, &UInt32Array::from(live))?);
                    matches.push(counts_of(picked)?);
                }
            }
            snapshot.set_table(format!("{name}/rows"), rows);
            // (Checkpoints before updating inputs held a boolean per row.)
            snapshot.set_table(format!("{name}/matched"), matches);
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
            self.held[side] = HeldRows::default();
            for (rows, flags) in rows.into_iter().zip(matched) {
                let damaged = || Error::query("a join checkpoint's match list is damaged");
                let counts = cast(
                    flags.columns().first().ok_or_else(damaged)?,
                    &DataType::UInt32,
                )
                .map_err(|_| damaged())?;
                let counts = counts
                    .as_any()
                    .downcast_ref::<UInt32Array>()
                    .map(|c| c.iter().map(|v| v.unwrap_or(0)).collect::<Vec<_>>())
                    .ok_or_else(damaged)?;
                let rows = RecordBatch::try_new(
                    Arc::clone(&self.spec.sides[side]),
                    rows.columns().to_vec(),
                )?;
                let (keys, _) = key_rows(&self.converter, &self.spec.keys[side], &rows)?;
                self.hold(side, rows, keys, counts)?;
            }
        }
        snapshot.expect_consumed("join operator")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::compute::concat_batches;
    use datafusion::physical_expr::expressions::Column;

    fn side(name: &str) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(format!("{name}_k"), DataType::Int64, true),
            Field::new(format!("{name}_v"), DataType::Int64, true),
        ]))
    }

    /// A regular join on `k`, the right side a changelog.
    fn operator(outer: [bool; 2]) -> StreamJoinOperator {
        let sides = [side("l"), side("r")];
        let fields: Vec<Field> = sides
            .iter()
            .flat_map(|s| s.fields().iter().map(|f| f.as_ref().clone()))
            .collect();
        let key =
            |name: &str| -> Vec<Arc<dyn PhysicalExpr>> { vec![Arc::new(Column::new(name, 0))] };
        StreamJoinOperator::new(StreamJoinSpec {
            names: ["l".into(), "r".into()],
            keys: [key("l_k"), key("r_k")],
            residual: None,
            schema: Arc::new(Schema::new(fields)),
            sides,
            outer,
            changelog: [false, true],
            interval: None,
            ttl: None,
        })
        .unwrap()
    }

    fn rows(schema: SchemaRef, rows: &[(i64, i64)]) -> RecordBatch {
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            ],
        )
        .unwrap()
    }

    fn changes(schema: SchemaRef, kind: RowKind, rows_: &[(i64, i64)]) -> RecordBatch {
        with_kind(&rows(schema, rows_), kind).unwrap()
    }

    /// Each change: (op, left value, right value), in order.
    fn emitted(batches: &[RecordBatch]) -> Vec<(String, Option<i64>, Option<i64>)> {
        let mut out = Vec::new();
        for b in batches {
            let op = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
            let value = |c: usize, i: usize| {
                let a = b.column(c).as_any().downcast_ref::<Int64Array>().unwrap();
                a.is_valid(i).then(|| a.value(i))
            };
            for i in 0..b.num_rows() {
                out.push((op.value(i).to_string(), value(2, i), value(4, i)));
            }
        }
        out
    }

    fn change(
        op: &str,
        left: Option<i64>,
        right: Option<i64>,
    ) -> (String, Option<i64>, Option<i64>) {
        (op.to_string(), left, right)
    }

    #[tokio::test]
    async fn an_inner_join_passes_its_updating_inputs_kinds_on() {
        let mut join = operator([false, false]);
        let (l, r) = (join.spec.sides[0].clone(), join.spec.sides[1].clone());
        join.process_input(0, rows(l, &[(1, 1), (1, 2)]))
            .await
            .unwrap();
        let insert = join
            .process_input(1, changes(r.clone(), RowKind::Insert, &[(1, 10)]))
            .await
            .unwrap();
        assert_eq!(
            emitted(&insert.batches),
            vec![
                change("+I", Some(1), Some(10)),
                change("+I", Some(2), Some(10))
            ]
        );
        // The update of key 1's value: -U of the old, +U of the new.
        let before = changes(r.clone(), RowKind::UpdateBefore, &[(1, 10)]);
        let after = changes(r, RowKind::UpdateAfter, &[(1, 20)]);
        let update = concat_batches(&before.schema(), &[before.clone(), after]).unwrap();
        let out = join.process_input(1, update).await.unwrap();
        assert_eq!(
            emitted(&out.batches),
            vec![
                change("-U", Some(1), Some(10)),
                change("-U", Some(2), Some(10)),
                change("+U", Some(1), Some(20)),
                change("+U", Some(2), Some(20)),
            ]
        );
        // The old value is no longer held: only the new one is.
        assert_eq!(join.held_rows(), 3);
    }

    #[tokio::test]
    async fn an_outer_row_losing_its_last_match_is_padded_again() {
        let mut join = operator([true, false]);
        let (l, r) = (join.spec.sides[0].clone(), join.spec.sides[1].clone());
        let alone = join.process_input(0, rows(l, &[(1, 1)])).await.unwrap();
        assert_eq!(emitted(&alone.batches), vec![change("+I", Some(1), None)]);
        let matched = join
            .process_input(1, changes(r.clone(), RowKind::Insert, &[(1, 10), (1, 11)]))
            .await
            .unwrap();
        assert_eq!(
            emitted(&matched.batches),
            vec![
                change("-D", Some(1), None),
                change("+I", Some(1), Some(10)),
                change("+I", Some(1), Some(11)),
            ]
        );
        // One of two matches goes: no padding yet; the second: padded again.
        let first = join
            .process_input(1, changes(r.clone(), RowKind::Delete, &[(1, 10)]))
            .await
            .unwrap();
        assert_eq!(
            emitted(&first.batches),
            vec![change("-D", Some(1), Some(10))]
        );
        let last = join
            .process_input(1, changes(r.clone(), RowKind::Delete, &[(1, 11)]))
            .await
            .unwrap();
        assert_eq!(
            emitted(&last.batches),
            vec![change("-D", Some(1), Some(11)), change("+I", Some(1), None)]
        );
        // A retraction of a row not held (never inserted) drops nothing.
        join.process_input(1, changes(r, RowKind::Delete, &[(2, 5)]))
            .await
            .unwrap();
        assert_eq!(join.held_rows(), 1);
    }

    #[tokio::test]
    async fn a_checkpoint_holds_only_rows_not_taken_back_and_their_match_counts() {
        let mut join = operator([true, false]);
        let (l, r) = (join.spec.sides[0].clone(), join.spec.sides[1].clone());
        join.process_input(0, rows(l, &[(1, 1), (2, 2)]))
            .await
            .unwrap();
        join.process_input(1, changes(r.clone(), RowKind::Insert, &[(1, 10), (1, 11)]))
            .await
            .unwrap();
        join.process_input(1, changes(r.clone(), RowKind::Delete, &[(1, 10)]))
            .await
            .unwrap();
        let snapshot = join.snapshot().await.unwrap();
        let mut restored = operator([true, false]);
        restored.restore(snapshot).unwrap();
        assert_eq!(restored.held_rows(), 3);
        // Left row 1 still has one match: its last going pads it again.
        let out = restored
            .process_input(1, changes(r, RowKind::Delete, &[(1, 11)]))
            .await
            .unwrap();
        assert_eq!(
            emitted(&out.batches),
            vec![change("-D", Some(1), Some(11)), change("+I", Some(1), None)]
        );
    }

    #[tokio::test]
    async fn rows_taken_back_are_compacted_away() {
        let mut join = operator([false, false]);
        let r = join.spec.sides[1].clone();
        for v in 0..3000 {
            join.process_input(1, changes(r.clone(), RowKind::Insert, &[(1, v)]))
                .await
                .unwrap();
            join.process_input(1, changes(r.clone(), RowKind::Delete, &[(1, v)]))
                .await
                .unwrap();
        }
        assert_eq!(join.held_rows(), 0);
        assert!(
            join.held[1].batches().len() <= 1100,
            "{}",
            join.held[1].batches().len()
        );
    }
}
