//! Top-N and deduplication over a stream without a window (Flink's Rank
//! and Deduplicate): `ROW_NUMBER()`, `RANK()` or `DENSE_RANK() OVER
//! (PARTITION BY ... ORDER BY ...)` filtered on the rank.
//!
//! ```text
//! batch ─▶ rows below the OVER ─▶ partition key, sort key, row (Arrow row format)
//!          (the query's own plan)        │
//!                                        ▼ per partition: rows in sort order
//!          after the batch, per partition touched: top before vs top after
//!          ─▶ -U/-D the rows that left, +U/+I the rows that came
//! ```
//!
//! Each partition keeps its rows ordered by the `ORDER BY` key as bytes
//! (the row format sorts as the key does, DESC and NULLS FIRST included),
//! ties in arrival order. Over an insert-only input a row that falls below
//! rank N can never come back, so only the top is kept; over an updating
//! input (a Top-N of a GROUP BY) every row is kept, for when a row above
//! it is retracted.
//!
//! What changes is told as Flink tells it: with the rank column in the
//! result, per rank (`-U` the old row at rank r, `+U` the new one); without
//! it, per partition (`-U`/`+U` while rows are replaced, `-D`/`+I` when the
//! partition's top shrinks or grows).
//!
//! A Top-1 over an insert-only input (`ROW_NUMBER() ... = 1`, keep-last
//! deduplication among them) takes a shorter way to the same changes: the
//! batch's best row per partition first, then one comparison with the row
//! held.
//!
//! Deduplication keeping the first row by event time (`ROW_NUMBER() ...
//! ORDER BY ts ASC` = 1) is append-only, as in Flink: a partition's first
//! row is emitted once the watermark passes it (no earlier row can then
//! arrive), and the partition then drops every later row. Keeping the last
//! row (`ORDER BY ts DESC`) is a Top-1, updating.
//!
//! State: every partition seen, until `table.exec.state.ttl` drops those
//! idle longer. Checkpointed as one table of held rows and one of finished
//! partitions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Int64Array, RecordBatch, UInt32Array, UInt64Array,
};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::datatypes::{Int64Type, SchemaRef};
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::HashMap;
use datafusion::physical_expr::{PhysicalExpr, PhysicalSortExpr};

use super::row_bytes::RowBytes;
use super::{Operator, Output};
use crate::changelog::{self, ChangelogMode, RowKind};
use crate::checkpoint::Snapshot;
use crate::error::{Error, Result};
use crate::operators::emission::EmissionPlan;
use crate::window::event_times;

/// How rows are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankFunction {
    /// `ROW_NUMBER()`: 1, 2, 3, ... (ties in arrival order).
    RowNumber,
    /// `RANK()`: ties share a rank, the next rank skips (1, 1, 3).
    Rank,
    /// `DENSE_RANK()`: ties share a rank, the next follows (1, 1, 2).
    DenseRank,
}

impl RankFunction {
    /// The function of DataFusion's window function `name`, if it ranks.
    pub fn of(name: &str) -> Option<RankFunction> {
        match name {
            "row_number" => Some(RankFunction::RowNumber),
            "rank" => Some(RankFunction::Rank),
            "dense_rank" => Some(RankFunction::DenseRank),
            _ => None,
        }
    }

    /// Its SQL name.
    pub fn sql(self) -> &'static str {
        match self {
            RankFunction::RowNumber => "ROW_NUMBER()",
            RankFunction::Rank => "RANK()",
            RankFunction::DenseRank => "DENSE_RANK()",
        }
    }
}

/// What the planner gives the operator.
pub struct TopN {
    /// Input rows -> the rows ranked (the query's plan below the OVER).
    pub input: EmissionPlan,
    /// `PARTITION BY`, over the ranked rows.
    pub partition_by: Vec<Arc<dyn PhysicalExpr>>,
    /// `ORDER BY`, over the ranked rows.
    pub order_by: Vec<PhysicalSortExpr>,
    /// The ranking function.
    pub function: RankFunction,
    /// The ranks kept, from the filter on the rank (`rn <= 3`: 1..=3).
    pub ranks: (u64, u64),
    /// Whether the rank column is part of the result: then changes are
    /// told per rank, otherwise per partition.
    pub with_rank: bool,
    /// The ranked rows' schema (`input`'s output).
    pub input_schema: SchemaRef,
    /// The output: the ranked rows' columns, then the rank.
    pub schema: SchemaRef,
    /// Whether the input is a changelog (a Top-N of an aggregate).
    pub input_mode: ChangelogMode,
    /// Keep-first deduplication by event time: the index of the event-time
    /// column among the ranked rows. Rows are then emitted once, append-only,
    /// as the watermark passes them.
    pub first_by_event_time: Option<usize>,
    /// Ties go latest first (keep-last deduplication: of two rows of one
    /// time, the later to arrive is the last, as in Flink); otherwise
    /// earliest first.
    pub latest_first: bool,
    /// How long a partition lives after its last change; `None`: forever.
    pub ttl: Option<Duration>,
    /// One line for EXPLAIN.
    pub description: String,
}

/// One row held: its bytes (all columns).
type Bytes = Box<[u8]>;

/// One partition's rows, in rank order: (sort key, tie order) -> row. The
/// tie order is the arrival number (or its complement, latest first).
#[derive(Default)]
struct Partition {
    rows: BTreeMap<(Bytes, u64), Bytes>,
    /// Keep-first deduplication: the partition's row was emitted; later
    /// rows are dropped.
    done: bool,
    last_change: Option<Instant>,
    bytes: usize,
}

/// Ranks each partition's rows and emits the changes of its top.
pub struct TopNOperator {
    plan: TopN,
    partitions: HashMap<Bytes, Partition>,
    /// Converts the partition columns and whole rows to bytes.
    converters: RowBytes,
    /// Converts the sort columns to bytes that sort as the ORDER BY does.
    sort_converter: RowConverter,
    /// Keep-first deduplication: partitions waiting for the watermark, by
    /// the event time of their first row.
    waiting: BTreeSet<(i64, Bytes)>,
    /// Arrival numbers, which order ties.
    next_seq: u64,
    watermark: Option<i64>,
    bytes: usize,
    last_sweep: Instant,
}

impl TopNOperator {
    /// The operator for `plan`.
    pub fn try_new(plan: TopN) -> Result<Self> {
        let refuse = |what: &str, e: datafusion::arrow::error::ArrowError| {
            Error::query(format!(
                "{} over a stream cannot {what}: {e}",
                plan.function.sql()
            ))
        };
        let converters =
            RowBytes::new(&plan.partition_by, &plan.input_schema, plan.function.sql())?;
        let sort_converter = RowConverter::new(
            plan.order_by
                .iter()
                .map(|s| {
                    Ok(SortField::new_with_options(
                        s.expr.data_type(&plan.input_schema)?,
                        s.options,
                    ))
                })
                .collect::<Result<Vec<_>>>()?,
        )
        .map_err(|e| refuse("order by these columns", e))?;
        Ok(TopNOperator {
            plan,
            partitions: HashMap::new(),
            converters,
            sort_converter,
            waiting: BTreeSet::new(),
            next_seq: 0,
            watermark: None,
            bytes: 0,
            last_sweep: Instant::now(),
        })
    }

    /// Each row of `batch` (the ranked rows' layout) as (partition, sort
    /// key, row) bytes.
    /// Rows for which `skip(partition, sort key)` holds are left out before
    /// their bytes are copied.
    fn keyed_rows(
        &self,
        batch: &RecordBatch,
        skip: impl Fn(&[u8], &[u8]) -> bool,
    ) -> Result<Vec<(Bytes, Bytes, Bytes)>> {
        let partitions = self.converters.partitions(batch)?;
        let sorts = self.sort_keys(batch)?;
        let rows = self.converters.rows().convert_columns(batch.columns())?;
        Ok((0..batch.num_rows())
            .filter(|&i| {
                let partition = partitions.as_ref().map_or(&[][..], |p| p.row(i).data());
                !skip(partition, sorts.row(i).data())
            })
            .map(|i| {
                let partition = RowBytes::partition_of(&partitions, i);
                (
                    partition,
                    sorts.row(i).data().into(),
                    rows.row(i).data().into(),
                )
            })
            .collect())
    }

    /// The `ORDER BY` key of each row of `batch`, as bytes that sort as it
    /// does.
    fn sort_keys(&self, batch: &RecordBatch) -> Result<Rows> {
        let n = batch.num_rows();
        let columns = self
            .plan
            .order_by
            .iter()
            .map(|s| Ok(s.expr.evaluate(batch)?.into_array(n)?))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.sort_converter.convert_columns(&columns)?)
    }

    /// Over an insert-only input, true when a row of `sort` key cannot
    /// enter `partition`'s full top: it would rank below every row held
    /// (ties rank after the rows held, unless latest first).
    fn cannot_enter(&self, partition: &[u8], sort: &[u8]) -> bool {
        if self.plan.input_mode == ChangelogMode::Updating {
            return false;
        }
        let Some(state) = self.partitions.get(partition) else {
            return false;
        };
        if (state.rows.len() as u64) < self.plan.ranks.1 {
            return false;
        }
        let Some(((last, _), _)) = state.rows.last_key_value() else {
            return false;
        };
        match (self.plan.function, self.plan.latest_first) {
            (RankFunction::RowNumber, false) => sort >= last.as_ref(),
            _ => sort > last.as_ref(),
        }
    }

    /// The rows of a partition's top: (rank, row), in rank order.
    fn top<'a>(&self, partition: &'a Partition) -> Vec<(u64, &'a [u8])> {
        let (low, high) = self.plan.ranks;
        ranked(&partition.rows, self.plan.function)
            .take_while(|(rank, _)| *rank <= high)
            .filter(|(rank, _)| *rank >= low)
            .collect()
    }

    /// Takes in `batch`; the partitions touched and their top before it go
    /// to `before`.
    fn take_in(
        &mut self,
        batch: &RecordBatch,
        retract: bool,
        before: &mut HashMap<Bytes, Vec<(u64, Bytes)>>,
    ) -> Result<()> {
        let now = Instant::now();
        let rows = self.keyed_rows(batch, |partition, sort| {
            !retract && self.cannot_enter(partition, sort)
        })?;
        for (partition, sort, row) in rows {
            if !before.contains_key(&partition) {
                let old = self
                    .partitions
                    .get(&partition)
                    .map(|p| owned(self.top(p)))
                    .unwrap_or_default();
                before.insert(partition.clone(), old);
            }
            let state = self.partitions.entry(partition).or_default();
            state.last_change = Some(now);
            if retract {
                let found = state
                    .rows
                    .range((sort.clone(), 0)..=(sort, u64::MAX))
                    .find(|(_, held)| held.as_ref() == row.as_ref())
                    .map(|(key, _)| key.clone());
                if let Some(key) = found {
                    state.rows.remove(&key);
                    let freed = held_bytes(&key.0, &row);
                    state.bytes = state.bytes.saturating_sub(freed);
                    self.bytes = self.bytes.saturating_sub(freed);
                }
            } else {
                state.bytes += held_bytes(&sort, &row);
                self.bytes += held_bytes(&sort, &row);
                let tie = tie_order(self.next_seq, self.plan.latest_first);
                state.rows.insert((sort, tie), row);
                self.next_seq += 1;
            }
        }
        Ok(())
    }

    /// Over an insert-only input, forgets the rows below the top of the
    /// partitions touched: they can never rise into it.
    fn trim(&mut self, touched: impl Iterator<Item = Bytes>) {
        if self.plan.input_mode == ChangelogMode::Updating {
            return;
        }
        let high = self.plan.ranks.1;
        for partition in touched {
            let Some(state) = self.partitions.get_mut(&partition) else {
                continue;
            };
            let keep = ranked(&state.rows, self.plan.function)
                .take_while(|(rank, _)| *rank <= high)
                .count();
            if keep < state.rows.len() {
                let Some(first_out) = state.rows.keys().nth(keep).cloned() else {
                    continue;
                };
                let dropped = state.rows.split_off(&first_out);
                let freed: usize = dropped
                    .iter()
                    .map(|((sort, _), row)| held_bytes(sort, row))
                    .sum();
                state.bytes = state.bytes.saturating_sub(freed);
                self.bytes = self.bytes.saturating_sub(freed);
            }
        }
    }

    /// The changes between each touched partition's top before and now.
    fn changes(
        &mut self,
        before: HashMap<Bytes, Vec<(u64, Bytes)>>,
    ) -> Result<Option<RecordBatch>> {
        let mut retracted: Vec<(u64, Bytes, RowKind)> = Vec::new();
        let mut added: Vec<(u64, Bytes, RowKind)> = Vec::new();
        for (partition, old) in before {
            let new = match self.partitions.get(&partition) {
                Some(state) => owned(self.top(state)),
                None => Vec::new(),
            };
            let (gone, came) = difference(&old, &new, self.plan.with_rank);
            let (gone_kinds, came_kinds) = kinds(&gone, &came, self.plan.with_rank);
            retracted.extend(
                gone.into_iter()
                    .zip(gone_kinds)
                    .map(|((r, row), k)| (r, row, k)),
            );
            added.extend(
                came.into_iter()
                    .zip(came_kinds)
                    .map(|((r, row), k)| (r, row, k)),
            );
            if self
                .partitions
                .get(&partition)
                .is_some_and(|p| p.rows.is_empty())
            {
                if let Some(state) = self.partitions.remove(&partition) {
                    self.bytes = self.bytes.saturating_sub(state.bytes);
                }
            }
        }
        retracted.extend(added);
        self.rows_of(&retracted)
    }

    /// A batch of `rows` (rank, row bytes, kind), as a changelog unless the
    /// operator is append-only.
    fn rows_of(&self, rows: &[(u64, Bytes, RowKind)]) -> Result<Option<RecordBatch>> {
        if rows.is_empty() {
            return Ok(None);
        }
        let parser = self.converters.rows().parser();
        let mut columns = self
            .converters
            .rows()
            .convert_rows(rows.iter().map(|(_, row, _)| parser.parse(row)))?;
        columns.push(Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|(rank, _, _)| *rank),
        )));
        let data = RecordBatch::try_new(Arc::clone(&self.plan.schema), columns)?;
        if self.plan.first_by_event_time.is_some() {
            return Ok(Some(data));
        }
        let kinds: Vec<RowKind> = rows.iter().map(|(_, _, kind)| *kind).collect();
        Ok(Some(changelog::with_kinds(&data, &kinds)?))
    }

    /// Whether the fast path of [`Self::take_in_top_one`] applies: one row
    /// per partition (`ROW_NUMBER() ... = 1`, keep-last deduplication among
    /// them) over an insert-only input.
    fn is_top_one(&self) -> bool {
        self.plan.function == RankFunction::RowNumber
            && self.plan.ranks == (1, 1)
            && self.plan.input_mode == ChangelogMode::InsertOnly
            && self.plan.first_by_event_time.is_none()
    }

    /// Top-1 over an insert-only input: the batch's best row per partition
    /// is found first (no copy per row), then compared once with the row
    /// held; a partition's change is `+I` (its first row) or `-U` old, `+U`
    /// new. The same changes as the general path, without its per-partition
    /// top before and after.
    fn take_in_top_one(&mut self, batch: &RecordBatch) -> Result<Option<RecordBatch>> {
        let partitions = self.converters.partitions(batch)?;
        let sorts = self.sort_keys(batch)?;
        let latest_first = self.plan.latest_first;
        // Whether a row of sort key `new` displaces one of `held`: a lower
        // key ranks first; of equal keys the later when latest first.
        let displaces = |new: &[u8], held: &[u8]| new < held || (latest_first && new == held);
        let partition_of = |i: usize| partitions.as_ref().map_or(&[][..], |p| p.row(i).data());
        let mut best: HashMap<&[u8], usize> = HashMap::new();
        for i in 0..batch.num_rows() {
            best.entry(partition_of(i))
                .and_modify(|b| {
                    if displaces(sorts.row(i).data(), sorts.row(*b).data()) {
                        *b = i;
                    }
                })
                .or_insert(i);
        }
        let entering: Vec<(&[u8], usize)> = best
            .into_iter()
            .filter(|(partition, i)| {
                self.partitions
                    .get(*partition)
                    .and_then(|p| p.rows.first_key_value())
                    .is_none_or(|((held, _), _)| displaces(sorts.row(*i).data(), held))
            })
            .collect();
        if entering.is_empty() {
            return Ok(None);
        }
        // Only the entering rows are encoded whole: most rows of a batch
        // rank below the row held.
        let taken = UInt32Array::from_iter_values(entering.iter().map(|&(_, i)| i as u32));
        let entering_batch = take_record_batch(batch, &taken)?;
        let rows = self
            .converters
            .rows()
            .convert_columns(entering_batch.columns())?;
        let now = Instant::now();
        let mut retracted: Vec<(u64, Bytes, RowKind)> = Vec::new();
        let mut added: Vec<(u64, Bytes, RowKind)> = Vec::with_capacity(entering.len());
        for (n, (partition, i)) in entering.into_iter().enumerate() {
            let sort: Bytes = sorts.row(i).data().into();
            let row: Bytes = rows.row(n).data().into();
            let tie = tie_order(self.next_seq, latest_first);
            self.next_seq += 1;
            let bytes = held_bytes(&sort, &row);
            if !self.partitions.contains_key(partition) {
                self.partitions
                    .insert(partition.into(), Partition::default());
            }
            let Some(state) = self.partitions.get_mut(partition) else {
                continue;
            };
            let kind = match state.rows.pop_first() {
                // The same row again: held anew, nothing to tell.
                Some((_, old)) if old == row => None,
                Some((_, old)) => {
                    retracted.push((1, old, RowKind::UpdateBefore));
                    Some(RowKind::UpdateAfter)
                }
                None => Some(RowKind::Insert),
            };
            self.bytes = self.bytes.saturating_sub(state.bytes) + bytes;
            state.bytes = bytes;
            state.last_change = Some(now);
            if let Some(kind) = kind {
                added.push((1, row.clone(), kind));
            }
            state.rows.insert((sort, tie), row);
        }
        retracted.extend(added);
        self.rows_of(&retracted)
    }

    /// Keep-first deduplication: takes in `batch`'s rows, each partition's
    /// earliest waiting for the watermark.
    fn take_in_first(&mut self, batch: &RecordBatch, time_index: usize) -> Result<()> {
        let times = event_times(batch.column(time_index))?;
        let now = Instant::now();
        for (i, (partition, sort, row)) in self
            .keyed_rows(batch, |_, _| false)?
            .into_iter()
            .enumerate()
        {
            if times.is_null(i) {
                continue;
            }
            let time = times.value(i);
            let state = self.partitions.entry(partition.clone()).or_default();
            if state.done {
                continue;
            }
            // Ties in time: the first to arrive stays.
            if let Some(((held, _), _)) = state.rows.first_key_value() {
                if *held <= sort {
                    continue;
                }
            }
            if let Some(((held, _), _)) = state.rows.pop_first() {
                let held_time = times_of_sort(&self.sort_converter, &held)?;
                self.waiting.remove(&(held_time, partition.clone()));
            }
            state.last_change = Some(now);
            let bytes = sort.len() + row.len() + partition.len() + 96;
            self.bytes = self.bytes.saturating_sub(state.bytes) + bytes;
            state.bytes = bytes;
            state.rows.insert((sort, self.next_seq), row);
            self.next_seq += 1;
            self.waiting.insert((time, partition));
        }
        Ok(())
    }

    /// Keep-first deduplication: the rows the watermark has passed (all of
    /// them at the end of the input).
    fn release_first(&mut self, watermark: Option<i64>) -> Result<Option<RecordBatch>> {
        let ready: Vec<(i64, Bytes)> = match watermark {
            Some(w) => {
                let later = self
                    .waiting
                    .split_off(&(w.saturating_add(1), Box::default()));
                std::mem::replace(&mut self.waiting, later)
                    .into_iter()
                    .collect()
            }
            None => std::mem::take(&mut self.waiting).into_iter().collect(),
        };
        let mut rows = Vec::with_capacity(ready.len());
        for (_, partition) in ready {
            if let Some(state) = self.partitions.get_mut(&partition) {
                if let Some((_, row)) = state.rows.pop_first() {
                    rows.push((1, row, RowKind::Insert));
                }
                state.done = true;
                self.bytes = self.bytes.saturating_sub(state.bytes) + partition.len() + 64;
                state.bytes = partition.len() + 64;
            }
        }
        self.rows_of(&rows)
    }

    /// The state's size counted over every partition (`bytes` is kept up to
    /// date as partitions change, not recounted per batch).
    fn counted_bytes(&self) -> usize {
        self.partitions.values().map(|p| p.bytes).sum()
    }

    /// Drops the partitions idle longer than the state TTL (at most every
    /// tenth of it).
    fn expire(&mut self) -> Result<()> {
        let Some(ttl) = self.plan.ttl else {
            return Ok(());
        };
        if self.last_sweep.elapsed() < ttl / 10 {
            return Ok(());
        }
        self.last_sweep = Instant::now();
        let expired: Vec<Bytes> = self
            .partitions
            .iter()
            .filter(|(_, p)| p.last_change.is_some_and(|t| t.elapsed() >= ttl))
            .map(|(k, _)| k.clone())
            .collect();
        for partition in expired {
            if let Some(state) = self.partitions.remove(&partition) {
                if let Some(((sort, _), _)) = state.rows.first_key_value() {
                    if self.plan.first_by_event_time.is_some() {
                        let time = times_of_sort(&self.sort_converter, sort)?;
                        self.waiting.remove(&(time, partition));
                    }
                }
            }
        }
        self.bytes = self.counted_bytes();
        Ok(())
    }
}

/// The rows of `rows` with their rank under `function`, in rank order.
fn ranked(
    rows: &BTreeMap<(Bytes, u64), Bytes>,
    function: RankFunction,
) -> impl Iterator<Item = (u64, &[u8])> {
    let mut position = 0;
    let mut rank = 0;
    let mut dense = 0;
    let mut previous: Option<&[u8]> = None;
    rows.iter().map(move |((sort, _), row)| {
        position += 1;
        if previous != Some(sort.as_ref()) {
            rank = position;
            dense += 1;
            previous = Some(sort.as_ref());
        }
        let r = match function {
            RankFunction::RowNumber => position,
            RankFunction::Rank => rank,
            RankFunction::DenseRank => dense,
        };
        (r, row.as_ref())
    })
}

/// The tie order of the row that arrived `seq`-th (its complement when
/// the latest goes first), and back: the map is its own inverse.
fn tie_order(seq: u64, latest_first: bool) -> u64 {
    match latest_first {
        true => u64::MAX - seq,
        false => seq,
    }
}

/// What a held row counts toward the state's size: its bytes and the
/// B-tree entry's.
fn held_bytes(sort: &[u8], row: &[u8]) -> usize {
    sort.len() + row.len() + 64
}

fn owned(top: Vec<(u64, &[u8])>) -> Vec<(u64, Bytes)> {
    top.into_iter()
        .map(|(rank, row)| (rank, row.into()))
        .collect()
}

/// What left (`old` minus `new`) and what came (`new` minus `old`), as
/// multisets of rows, or of (rank, row) when `with_rank`.
#[allow(clippy::type_complexity)]
fn difference(
    old: &[(u64, Bytes)],
    new: &[(u64, Bytes)],
    with_rank: bool,
) -> (Vec<(u64, Bytes)>, Vec<(u64, Bytes)>) {
    let key = |(rank, row): &(u64, Bytes)| (if with_rank { *rank } else { 0 }, row.clone());
    let mut count: HashMap<(u64, Bytes), i64> = HashMap::new();
    for entry in old {
        *count.entry(key(entry)).or_default() += 1;
    }
    let mut came = Vec::new();
    for entry in new {
        match count.get_mut(&key(entry)) {
            Some(c) if *c > 0 => *c -= 1,
            _ => came.push(entry.clone()),
        }
    }
    let mut gone = Vec::new();
    for entry in old.iter().rev() {
        if let Some(c) = count.get_mut(&key(entry)) {
            if *c > 0 {
                *c -= 1;
                gone.push(entry.clone());
            }
        }
    }
    gone.reverse();
    (gone, came)
}

/// The kinds of what left and what came: as many of each paired as
/// updates (`-U`, `+U`), per rank with the rank shown and per partition
/// without it; the rest deletes and inserts.
fn kinds(
    gone: &[(u64, Bytes)],
    came: &[(u64, Bytes)],
    with_rank: bool,
) -> (Vec<RowKind>, Vec<RowKind>) {
    let group = |rank: u64| if with_rank { rank } else { 0 };
    let mut pairs: HashMap<u64, (usize, usize)> = HashMap::new();
    for (rank, _) in gone {
        pairs.entry(group(*rank)).or_default().0 += 1;
    }
    for (rank, _) in came {
        pairs.entry(group(*rank)).or_default().1 += 1;
    }
    let label = |entries: &[(u64, Bytes)], paired: RowKind, single: RowKind| {
        let mut used: HashMap<u64, usize> = HashMap::new();
        entries
            .iter()
            .map(|(rank, _)| {
                let g = group(*rank);
                let (g_gone, g_came) = pairs[&g];
                let n = used.entry(g).or_default();
                *n += 1;
                if *n <= g_gone.min(g_came) {
                    paired
                } else {
                    single
                }
            })
            .collect::<Vec<_>>()
    };
    let gone_kinds = label(gone, RowKind::UpdateBefore, RowKind::Delete);
    let came_kinds = label(came, RowKind::UpdateAfter, RowKind::Insert);
    (gone_kinds, came_kinds)
}

/// The event time (ms) of a keep-first sort key (the event-time column alone).
fn times_of_sort(converter: &RowConverter, sort: &[u8]) -> Result<i64> {
    let columns = converter.convert_rows([converter.parser().parse(sort)])?;
    let times = event_times(&columns[0])?;
    Ok(times.value(0))
}

#[async_trait::async_trait]
impl Operator for TopNOperator {
    fn name(&self) -> &'static str {
        "top_n"
    }

    fn describe(&self) -> String {
        self.plan.description.clone()
    }

    fn changelog_mode(&self, _input: ChangelogMode) -> ChangelogMode {
        match self.plan.first_by_event_time {
            Some(_) => ChangelogMode::InsertOnly,
            None => ChangelogMode::Updating,
        }
    }

    fn needs_watermark(&self) -> bool {
        self.plan.first_by_event_time.is_some()
    }

    fn state_bytes(&self) -> usize {
        self.bytes
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        if batch.num_rows() == 0 {
            return Ok(Output::default());
        }
        self.expire()?;
        let parts = match self.plan.input_mode {
            ChangelogMode::InsertOnly => vec![(false, batch)],
            ChangelogMode::Updating => changelog::split(&batch)?
                .into_iter()
                .map(|(kind, rows)| (kind.is_retraction(), rows))
                .collect(),
        };
        if let Some(time_index) = self.plan.first_by_event_time {
            for (_, rows) in parts {
                for rows in self.plan.input.run(vec![rows]).await? {
                    self.take_in_first(&rows, time_index)?;
                }
            }
            // Rows already at or below the watermark are complete.
            let out = self.release_first(self.watermark.or(Some(i64::MIN)))?;
            debug_assert_eq!(self.bytes, self.counted_bytes());
            return Ok(Output::batches(out.into_iter().collect()));
        }
        if self.is_top_one() {
            let mut out = Vec::new();
            for (_, rows) in parts {
                for rows in self.plan.input.run(vec![rows]).await? {
                    out.extend(self.take_in_top_one(&rows)?);
                }
            }
            debug_assert_eq!(self.bytes, self.counted_bytes());
            return Ok(Output::batches(out));
        }
        let mut before = HashMap::new();
        for (retract, rows) in parts {
            for rows in self.plan.input.run(vec![rows]).await? {
                self.take_in(&rows, retract, &mut before)?;
            }
        }
        self.trim(before.keys().cloned());
        let out = self.changes(before)?;
        debug_assert_eq!(self.bytes, self.counted_bytes());
        Ok(Output::batches(out.into_iter().collect()))
    }

    async fn on_watermark(&mut self, watermark: i64) -> Result<Output> {
        self.watermark = Some(watermark);
        let batches = match self.plan.first_by_event_time {
            Some(_) => self.release_first(Some(watermark))?.into_iter().collect(),
            None => Vec::new(),
        };
        Ok(Output {
            batches,
            watermark: Some(watermark),
        })
    }

    async fn on_end_of_input(&mut self) -> Result<Output> {
        if self.plan.first_by_event_time.is_none() {
            return Ok(Output::default());
        }
        Ok(Output::batches(
            self.release_first(None)?.into_iter().collect(),
        ))
    }

    async fn snapshot(&mut self) -> Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        let mut partitions: Vec<&[u8]> = Vec::new();
        let mut sorts: Vec<&[u8]> = Vec::new();
        let mut seqs = Vec::new();
        let mut rows: Vec<&[u8]> = Vec::new();
        let mut done: Vec<&[u8]> = Vec::new();
        for (partition, state) in &self.partitions {
            if state.done {
                done.push(partition);
            }
            for ((sort, seq), row) in &state.rows {
                partitions.push(partition);
                sorts.push(sort);
                seqs.push(*seq as i64);
                rows.push(row);
            }
        }
        if !rows.is_empty() {
            let columns: Vec<(&str, ArrayRef)> = vec![
                ("partition", Arc::new(BinaryArray::from(partitions))),
                ("sort", Arc::new(BinaryArray::from(sorts))),
                ("seq", Arc::new(Int64Array::from(seqs))),
                ("row", Arc::new(BinaryArray::from(rows))),
            ];
            snapshot.set_columns("rows", columns)?;
        }
        if !done.is_empty() {
            let columns: Vec<(&str, ArrayRef)> =
                vec![("partition", Arc::new(BinaryArray::from(done)))];
            snapshot.set_columns("done", columns)?;
        }
        Ok(snapshot)
    }

    fn restore(&mut self, mut snapshot: Snapshot) -> Result<()> {
        let bad = || {
            Error::query(
                "the checkpoint's Top-N state is not readable; it was taken by a different query",
            )
        };
        for batch in snapshot.take_table("rows") {
            let [partition, sort, seq, row] = batch.columns() else {
                return Err(bad());
            };
            let (Some(partition), Some(sort), Some(seq), Some(row)) = (
                partition.as_binary_opt::<i32>(),
                sort.as_binary_opt::<i32>(),
                seq.as_primitive_opt::<Int64Type>(),
                row.as_binary_opt::<i32>(),
            ) else {
                return Err(bad());
            };
            for r in 0..batch.num_rows() {
                let key: Bytes = partition.value(r).into();
                let sort: Bytes = sort.value(r).into();
                let seq = seq.value(r) as u64;
                let arrival = tie_order(seq, self.plan.latest_first);
                self.next_seq = self.next_seq.max(arrival + 1);
                if self.plan.first_by_event_time.is_some() {
                    let time = times_of_sort(&self.sort_converter, &sort)?;
                    self.waiting.insert((time, key.clone()));
                }
                let state = self.partitions.entry(key).or_default();
                state.bytes += held_bytes(&sort, row.value(r));
                state.rows.insert((sort, seq), row.value(r).into());
            }
        }
        for batch in snapshot.take_table("done") {
            let partition = batch.column(0).as_binary_opt::<i32>().ok_or_else(bad)?;
            for r in 0..batch.num_rows() {
                let state = self
                    .partitions
                    .entry(partition.value(r).into())
                    .or_default();
                state.done = true;
                state.bytes += partition.value(r).len() + 64;
            }
        }
        self.bytes = self.counted_bytes();
        snapshot.expect_consumed("Top-N")
    }
}
