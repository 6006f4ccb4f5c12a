//! OVER aggregates ordered by event time (Flink's OverAggregate):
//! `SUM(x) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN n PRECEDING AND
//! CURRENT ROW)` or `... RANGE BETWEEN INTERVAL '1' HOUR PRECEDING AND
//! CURRENT ROW`. Append-only: each row is emitted once, with its aggregates,
//! when the watermark passes it (then no earlier row can arrive).
//!
//! ```text
//! batch ─▶ rows below the OVER ─▶ waiting, in event-time order
//!                                   │ watermark passes them
//!                                   ▼ per partition, in time order:
//!          the frame (rows still in it) ─ add the row, retract what left ─▶ row + aggregates
//! ```
//!
//! Each partition keeps the rows of its current frame and DataFusion's
//! sliding accumulators over them (`create_sliding_accumulator`, which
//! retract: SUM, COUNT, AVG, MIN, MAX, ...). A RANGE frame takes a row's
//! peers (rows of the same time) together, as SQL says; a ROWS frame
//! counts rows, ties in arrival order. Rows at or below the watermark when
//! they arrive are late: dropped and counted, as in Flink.
//!
//! State: the waiting rows, and per partition the rows of its frame (the
//! accumulators are rebuilt from them on restore). Checkpointed as two
//! tables of rows and the watermark.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Int64Array, RecordBatch,
};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{Int64Type, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Accumulator;
use datafusion::physical_expr::PhysicalExpr;

use super::group_aggregate::{cast_to, Aggregate};
use super::row_bytes::RowBytes;
use super::{Operator, Output};
use crate::checkpoint::Snapshot;
use crate::error::{Error, Result};
use crate::metrics::StreamMetrics;
use crate::operators::emission::EmissionPlan;
use crate::window::event_times;

/// Which rows before the current one are in its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// `ROWS BETWEEN n PRECEDING AND CURRENT ROW`.
    Rows(u64),
    /// `RANGE BETWEEN INTERVAL ... PRECEDING AND CURRENT ROW`, in ms.
    Range(i64),
}

/// What the planner gives the operator.
pub struct OverAggregate {
    /// Input rows -> the rows aggregated (the query's plan below the OVER).
    pub input: EmissionPlan,
    /// `PARTITION BY`, over those rows.
    pub partition_by: Vec<Arc<dyn PhysicalExpr>>,
    /// The event-time column (the `ORDER BY`) among those rows.
    pub time_index: usize,
    /// The frame.
    pub frame: Frame,
    /// The aggregates, over those rows.
    pub aggregates: Vec<Aggregate>,
    /// The rows aggregated (`input`'s output).
    pub input_schema: SchemaRef,
    /// The output: those rows' columns, then one per aggregate.
    pub schema: SchemaRef,
    /// Where late rows are counted.
    pub metrics: Arc<StreamMetrics>,
    /// One line for EXPLAIN.
    pub description: String,
}

type Bytes = Box<[u8]>;

/// A row in a partition's frame: its time, and per aggregate its arguments
/// (`None` when the aggregate's FILTER left it out).
struct Held {
    time: i64,
    seq: u64,
    row: Bytes,
    arguments: Vec<Option<Vec<ScalarValue>>>,
}

/// One partition: the rows of its current frame and the accumulators over
/// them.
struct Partition {
    frame: VecDeque<Held>,
    accumulators: Vec<Box<dyn Accumulator>>,
}

/// Computes OVER aggregates as the watermark passes each row.
pub struct OverAggregateOperator {
    plan: OverAggregate,
    converters: RowBytes,
    /// Rows waiting for the watermark: (time, arrival) -> (partition, row).
    waiting: BTreeMap<(i64, u64), (Bytes, Bytes)>,
    partitions: HashMap<Bytes, Partition>,
    next_seq: u64,
    watermark: Option<i64>,
    bytes: usize,
}

impl OverAggregateOperator {
    /// The operator for `plan`.
    pub fn try_new(plan: OverAggregate) -> Result<Self> {
        let converters = RowBytes::new(&plan.partition_by, &plan.input_schema, "OVER aggregates")?;
        for aggregate in &plan.aggregates {
            if !aggregate
                .function
                .create_sliding_accumulator()?
                .supports_retract_batch()
            {
                return Err(Error::query(format!(
                    "{} OVER (...) over a stream needs to take rows back out of its frame, \
                     which {} cannot; use SUM, COUNT, AVG, MIN or MAX",
                    aggregate.function.name(),
                    aggregate.function.name()
                )));
            }
        }
        Ok(OverAggregateOperator {
            plan,
            converters,
            waiting: BTreeMap::new(),
            partitions: HashMap::new(),
            next_seq: 0,
            watermark: None,
            bytes: 0,
        })
    }

    /// Takes in the rows of `batch` (the aggregated rows' layout): the late
    /// ones are dropped, the others wait for the watermark.
    fn take_in(&mut self, batch: &RecordBatch) -> Result<()> {
        let times = event_times(batch.column(self.plan.time_index))?;
        let on_time: BooleanArray = times
            .iter()
            .map(|t| Some(t.is_some_and(|t| self.watermark.is_none_or(|w| t > w))))
            .collect();
        let kept = filter_record_batch(batch, &on_time)?;
        let late = batch.num_rows() - kept.num_rows();
        if late > 0 {
            self.plan.metrics.add_late_rows(late);
        }
        let n = kept.num_rows();
        if n == 0 {
            return Ok(());
        }
        let times = event_times(kept.column(self.plan.time_index))?;
        let partitions = self.converters.partitions(&kept)?;
        let rows = self.converters.rows().convert_columns(kept.columns())?;
        for i in 0..n {
            let partition = RowBytes::partition_of(&partitions, i);
            let row: Bytes = rows.row(i).data().into();
            self.bytes += partition.len() + row.len() + 64;
            self.waiting
                .insert((times.value(i), self.next_seq), (partition, row));
            self.next_seq += 1;
        }
        Ok(())
    }

    /// The rows up to `watermark` (all, at the end of the input) with their
    /// aggregates, in event-time order.
    fn release(&mut self, watermark: Option<i64>) -> Result<Option<RecordBatch>> {
        let ready = match watermark {
            Some(w) => {
                let later = self.waiting.split_off(&(w.saturating_add(1), 0));
                std::mem::replace(&mut self.waiting, later)
            }
            None => std::mem::take(&mut self.waiting),
        };
        if ready.is_empty() {
            return Ok(None);
        }
        let ready: Vec<((i64, u64), (Bytes, Bytes))> = ready.into_iter().collect();
        let batch = self.rows_batch(ready.iter().map(|(_, (_, row))| row.as_ref()))?;
        let arguments = self.arguments(&batch)?;
        // Each partition's rows, in time order.
        let mut by_partition: HashMap<&[u8], Vec<usize>> = HashMap::new();
        for (i, (_, (partition, _))) in ready.iter().enumerate() {
            by_partition.entry(partition).or_default().push(i);
        }
        let mut values: Vec<Vec<ScalarValue>> = vec![Vec::new(); ready.len()];
        for (partition, members) in by_partition {
            if !self.partitions.contains_key(partition) {
                let state = self.new_partition()?;
                self.partitions.insert(partition.into(), state);
            }
            let state = self
                .partitions
                .get_mut(partition)
                .ok_or_else(|| Error::Internal("a partition vanished".into()))?;
            let mut start = 0;
            while start < members.len() {
                // A RANGE frame takes a row's peers with it.
                let time = ready[members[start]].0 .0;
                let end = match self.plan.frame {
                    Frame::Rows(_) => start + 1,
                    Frame::Range(_) => {
                        start
                            + members[start..]
                                .iter()
                                .take_while(|&&i| ready[i].0 .0 == time)
                                .count()
                    }
                };
                for &i in &members[start..end] {
                    let ((time, seq), (_, row)) = &ready[i];
                    let held = Held {
                        time: *time,
                        seq: *seq,
                        row: row.clone(),
                        arguments: arguments.iter().map(|a| a[i].clone()).collect(),
                    };
                    add(state, &held, false)?;
                    state.frame.push_back(held);
                }
                // Waiting, a row counted its partition key too.
                let keys: usize = members[start..end]
                    .iter()
                    .map(|&i| ready[i].1 .0.len())
                    .sum();
                self.bytes = self.bytes.saturating_sub(keys);
                expire(state, self.plan.frame, time, &mut self.bytes)?;
                let results = state
                    .accumulators
                    .iter_mut()
                    .map(|a| a.evaluate())
                    .collect::<datafusion::common::Result<Vec<_>>>()?;
                for &i in &members[start..end] {
                    values[i] = results.clone();
                }
                start = end;
            }
        }
        let mut columns = batch.columns().to_vec();
        let fields = self.plan.schema.fields();
        for a in 0..self.plan.aggregates.len() {
            let column = ScalarValue::iter_to_array(values.iter().map(|v| v[a].clone()))?;
            let data_type = fields[self.plan.input_schema.fields().len() + a].data_type();
            columns.push(cast_to(column, data_type)?);
        }
        Ok(Some(RecordBatch::try_new(
            Arc::clone(&self.plan.schema),
            columns,
        )?))
    }

    fn new_partition(&self) -> Result<Partition> {
        Ok(Partition {
            frame: VecDeque::new(),
            accumulators: self
                .plan
                .aggregates
                .iter()
                .map(|a| a.function.create_sliding_accumulator())
                .collect::<datafusion::common::Result<Vec<_>>>()?,
        })
    }

    /// Rows (as bytes) back into a batch of the aggregated rows' layout.
    fn rows_batch<'a>(&self, rows: impl Iterator<Item = &'a [u8]>) -> Result<RecordBatch> {
        let parser = self.converters.rows().parser();
        let columns = self
            .converters
            .rows()
            .convert_rows(rows.map(|row| parser.parse(row)))?;
        Ok(RecordBatch::try_new(
            Arc::clone(&self.plan.input_schema),
            columns,
        )?)
    }

    /// Per aggregate, per row of `batch`: its arguments, or `None` where
    /// its FILTER leaves the row out.
    fn arguments(&self, batch: &RecordBatch) -> Result<Vec<Vec<Option<Vec<ScalarValue>>>>> {
        let n = batch.num_rows();
        let mut out = Vec::new();
        for aggregate in &self.plan.aggregates {
            let columns = aggregate
                .function
                .expressions()
                .iter()
                .map(|e| Ok(e.evaluate(batch)?.into_array(n)?))
                .collect::<Result<Vec<ArrayRef>>>()?;
            let keep = match &aggregate.filter {
                Some(f) => Some(
                    f.evaluate(batch)?
                        .into_array(n)?
                        .as_boolean_opt()
                        .cloned()
                        .ok_or_else(|| {
                            Error::query("a FILTER (WHERE ...) condition must be true or false")
                        })?,
                ),
                None => None,
            };
            let mut rows = Vec::with_capacity(n);
            for i in 0..n {
                if keep.as_ref().is_some_and(|k| k.is_null(i) || !k.value(i)) {
                    rows.push(None);
                    continue;
                }
                rows.push(Some(
                    columns
                        .iter()
                        .map(|c| ScalarValue::try_from_array(c, i))
                        .collect::<datafusion::common::Result<Vec<_>>>()?,
                ));
            }
            out.push(rows);
        }
        Ok(out)
    }
}

/// Adds `held` to the accumulators (or, with `retract`, takes it out).
fn add(state: &mut Partition, held: &Held, retract: bool) -> Result<()> {
    for (accumulator, arguments) in state.accumulators.iter_mut().zip(&held.arguments) {
        let Some(arguments) = arguments else {
            continue;
        };
        let arrays = arguments
            .iter()
            .map(|v| v.to_array_of_size(1))
            .collect::<datafusion::common::Result<Vec<_>>>()?;
        match retract {
            true => accumulator.retract_batch(&arrays)?,
            false => accumulator.update_batch(&arrays)?,
        }
    }
    Ok(())
}

/// Takes out of the frame the rows that left it, the current row being at
/// `time`.
fn expire(state: &mut Partition, frame: Frame, time: i64, bytes: &mut usize) -> Result<()> {
    loop {
        let out = match (frame, state.frame.front()) {
            (Frame::Rows(n), Some(_)) => state.frame.len() as u64 > n + 1,
            (Frame::Range(ms), Some(front)) => front.time < time.saturating_sub(ms),
            (_, None) => false,
        };
        if !out {
            return Ok(());
        }
        if let Some(held) = state.frame.pop_front() {
            add(state, &held, true)?;
            *bytes = bytes.saturating_sub(held.row.len() + 64);
        }
    }
}

#[async_trait::async_trait]
impl Operator for OverAggregateOperator {
    fn name(&self) -> &'static str {
        "over_aggregate"
    }

    fn describe(&self) -> String {
        self.plan.description.clone()
    }

    fn state_bytes(&self) -> usize {
        self.bytes
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        if batch.num_rows() == 0 {
            return Ok(Output::default());
        }
        for rows in self.plan.input.run(vec![batch]).await? {
            self.take_in(&rows)?;
        }
        Ok(Output::default())
    }

    async fn on_watermark(&mut self, watermark: i64) -> Result<Output> {
        self.watermark = Some(watermark);
        Ok(Output {
            batches: self.release(Some(watermark))?.into_iter().collect(),
            watermark: Some(watermark),
        })
    }

    async fn on_end_of_input(&mut self) -> Result<Output> {
        Ok(Output::batches(self.release(None)?.into_iter().collect()))
    }

    async fn snapshot(&mut self) -> Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        // Waiting rows (frame = false) and frame rows (frame = true), each
        // with its partition, time and arrival number.
        let mut partitions: Vec<&[u8]> = Vec::new();
        let mut times = Vec::new();
        let mut seqs = Vec::new();
        let mut rows: Vec<&[u8]> = Vec::new();
        let mut in_frame = Vec::new();
        for ((time, seq), (partition, row)) in &self.waiting {
            partitions.push(partition);
            times.push(*time);
            seqs.push(*seq as i64);
            rows.push(row);
            in_frame.push(false);
        }
        for (partition, state) in &self.partitions {
            for held in &state.frame {
                partitions.push(partition);
                times.push(held.time);
                seqs.push(held.seq as i64);
                rows.push(&held.row);
                in_frame.push(true);
            }
        }
        if !rows.is_empty() {
            let columns: Vec<(&str, ArrayRef)> = vec![
                ("partition", Arc::new(BinaryArray::from(partitions))),
                ("time", Arc::new(Int64Array::from(times))),
                ("seq", Arc::new(Int64Array::from(seqs))),
                ("row", Arc::new(BinaryArray::from(rows))),
                ("in_frame", Arc::new(BooleanArray::from(in_frame))),
            ];
            snapshot.set_columns("rows", columns)?;
        }
        if let Some(watermark) = self.watermark {
            let columns: Vec<(&str, ArrayRef)> =
                vec![("watermark", Arc::new(Int64Array::from(vec![watermark])))];
            snapshot.set_columns("watermark", columns)?;
        }
        Ok(snapshot)
    }

    fn restore(&mut self, mut snapshot: Snapshot) -> Result<()> {
        let bad = || {
            Error::query(
                "the checkpoint's OVER aggregate state is not readable; it was taken by a \
                 different query",
            )
        };
        for batch in snapshot.take_table("watermark") {
            let column = batch
                .column(0)
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(bad)?;
            self.watermark = (!column.is_empty()).then(|| column.value(0));
        }
        for batch in snapshot.take_table("rows") {
            let [partition, time, seq, row, in_frame] = batch.columns() else {
                return Err(bad());
            };
            let (Some(partition), Some(time), Some(seq), Some(row), Some(in_frame)) = (
                partition.as_binary_opt::<i32>(),
                time.as_primitive_opt::<Int64Type>(),
                seq.as_primitive_opt::<Int64Type>(),
                row.as_binary_opt::<i32>(),
                in_frame.as_boolean_opt(),
            ) else {
                return Err(bad());
            };
            // The frames' rows, in their order, re-accumulated.
            let framed: Vec<usize> = (0..batch.num_rows())
                .filter(|&r| in_frame.value(r))
                .collect();
            let rows_batch = self.rows_batch(framed.iter().map(|&r| row.value(r)))?;
            let arguments = self.arguments(&rows_batch)?;
            for (i, &r) in framed.iter().enumerate() {
                let key: Bytes = partition.value(r).into();
                if !self.partitions.contains_key(&key) {
                    let state = self.new_partition()?;
                    self.partitions.insert(key.clone(), state);
                }
                let state = self.partitions.get_mut(&key).ok_or_else(bad)?;
                let held = Held {
                    time: time.value(r),
                    seq: seq.value(r) as u64,
                    row: row.value(r).into(),
                    arguments: arguments.iter().map(|a| a[i].clone()).collect(),
                };
                add(state, &held, false)?;
                self.bytes += held.row.len() + 64;
                state.frame.push_back(held);
            }
            for r in (0..batch.num_rows()).filter(|&r| !in_frame.value(r)) {
                let (partition, row): (Bytes, Bytes) =
                    (partition.value(r).into(), row.value(r).into());
                self.bytes += partition.len() + row.len() + 64;
                self.waiting
                    .insert((time.value(r), seq.value(r) as u64), (partition, row));
            }
            self.next_seq = self
                .next_seq
                .max(seq.iter().flatten().max().map_or(0, |s| s as u64 + 1));
        }
        snapshot.expect_consumed("OVER aggregate")
    }
}
