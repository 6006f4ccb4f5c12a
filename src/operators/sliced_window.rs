//! The sliced window operator for TUMBLE, HOP and CUMULATE: aggregates each
//! row once, into the slice of time it falls in, and merges slices when a
//! window closes, so overlapping windows share work (Flink's slicing windows,
//! Arroyo's partial/final split).
//!
//! ```text
//!  batch ─assign slice─▶ partial aggregate ─▶ slices: BTreeMap<slice start, partial states>
//!    │                  (DataFusion, Partial)            │ watermark >= window end
//!    └ late: dropped, counted                             ▼
//!                   relabel slice bounds as the window's ─▶ final aggregate ─▶ rest of the query
//!                                                          (DataFusion, Final)   (HAVING, projection)
//! ```
//!
//! A slice is the window for TUMBLE, the slide for HOP and the step for
//! CUMULATE. The partial states are DataFusion's own accumulator states
//! (`Accumulator::state` / `merge_batch`), so every aggregate works, DISTINCT
//! and user-defined ones included. A slice is freed once the last window
//! holding it has been emitted.
//!
//! Two batches are sliced and partially aggregated at once, each on its own
//! copy of the partial plan in a task of its own (late rows are judged
//! against the watermark as of their batch); their states are filed into
//! slices in batch order, and a watermark first waits for both, so the
//! results are those of one batch at a time.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::ScalarValue;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;

use super::{Operator, Output};
use crate::checkpoint::snapshot::{keyed, split_keyed};
use crate::checkpoint::Snapshot;
use crate::error::{Error, Result};
use crate::metrics::StreamMetrics;
use crate::operators::emission::{run_over, EmissionPlan};
use crate::operators::emission_source::{with_slot, Slot};
use crate::window::{assign_fixed, event_times, ms, WindowKind, WindowSpec};

/// The physical pieces of a windowed aggregation, split for slicing.
pub struct SlicedAggregate {
    /// Slot the slice-assigned input rows go into.
    pub input_slot: Slot,
    /// Input rows -> partial states (the query's filters and projections,
    /// then DataFusion's partial aggregate).
    pub partial: Arc<dyn ExecutionPlan>,
    /// Slot the relabelled partial states go into.
    pub states_slot: Slot,
    /// Partial states -> aggregated rows (DataFusion's final aggregate).
    pub final_aggregate: Arc<dyn ExecutionPlan>,
    /// Aggregated rows -> the query's result (HAVING, projections, ...).
    pub rest: EmissionPlan,
    /// The schema `rest` reads the aggregated rows as.
    pub rest_schema: SchemaRef,
    /// Positions of window_start, window_end, window_time in the states.
    pub window_columns: [Option<usize>; 3],
    /// The task context to run the plans in.
    pub task: Arc<TaskContext>,
}

struct Slice {
    /// Partial states of the rows of this slice.
    states: Vec<RecordBatch>,
    /// The end of the last window holding this slice.
    last_end: i64,
}

/// Slices rows, aggregates them partially, and emits windows as they close.
pub struct SlicedWindowOperator {
    window: Arc<WindowSpec>,
    slice_kind: WindowKind,
    aggregate: SlicedAggregate,
    slices: BTreeMap<i64, Slice>,
    /// Windows holding data, not yet emitted: (end, start).
    pending: BTreeSet<(i64, i64)>,
    watermark: Option<i64>,
    metrics: Arc<StreamMetrics>,
    /// Copies of the partial aggregate, each with its own input slot, so
    /// consecutive batches aggregate on different cores.
    workers: Vec<(Arc<dyn ExecutionPlan>, Slot)>,
    next_worker: usize,
    /// Partial aggregations running, oldest first (at most one per worker).
    in_flight: VecDeque<SpawnedTask<Result<Vec<RecordBatch>>>>,
}

/// How many batches are partially aggregated at once.
const WORKERS: usize = 2;

impl SlicedWindowOperator {
    /// An operator for `window` (TUMBLE, HOP or CUMULATE).
    pub fn new(
        window: Arc<WindowSpec>,
        aggregate: SlicedAggregate,
        metrics: Arc<StreamMetrics>,
    ) -> Result<Self> {
        let slice = match window.kind {
            WindowKind::Tumble { size } => size,
            WindowKind::Hop { slide, .. } => slide,
            WindowKind::Cumulate { step, .. } => step,
            WindowKind::Session { .. } => {
                return Err(Error::Internal("sessions are not sliced".into()))
            }
        };
        let mut workers = vec![(
            Arc::clone(&aggregate.partial),
            Arc::clone(&aggregate.input_slot),
        )];
        while workers.len() < WORKERS {
            let slot = Slot::default();
            workers.push((with_slot(&aggregate.partial, &slot)?, slot));
        }
        Ok(SlicedWindowOperator {
            window,
            slice_kind: WindowKind::Tumble { size: slice },
            aggregate,
            workers,
            next_worker: 0,
            in_flight: VecDeque::new(),
            slices: BTreeMap::new(),
            pending: BTreeSet::new(),
            watermark: None,
            metrics,
        })
    }

    async fn run(
        &self,
        plan: &Arc<dyn ExecutionPlan>,
        slot: &Slot,
        rows: Vec<RecordBatch>,
    ) -> Result<Vec<RecordBatch>> {
        run_over(plan, slot, rows, &self.aggregate.task).await
    }

    /// Waits for the oldest partial aggregation and files its states.
    async fn finish_oldest(&mut self) -> Result<()> {
        if let Some(running) = self.in_flight.pop_front() {
            let states = running
                .join()
                .await
                .map_err(|e| Error::Internal(format!("partial aggregation task: {e}")))??;
            self.file_states(states)?;
        }
        Ok(())
    }

    /// Waits for every partial aggregation, so all rows so far are in slices.
    async fn finish_all(&mut self) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.finish_oldest().await?;
        }
        Ok(())
    }

    /// Files partial states under their slices, and the windows they feed
    /// as pending.
    fn file_states(&mut self, states: Vec<RecordBatch>) -> Result<()> {
        let Some(start_column) = self.aggregate.window_columns[0] else {
            return Err(Error::Internal(
                "sliced aggregate without window_start".into(),
            ));
        };
        let mut windows = Vec::new();
        for batch in states.iter().filter(|b| b.num_rows() > 0) {
            let starts = event_times(batch.column(start_column))?;
            let mut distinct: Vec<i64> = starts.values().to_vec();
            distinct.sort_unstable();
            distinct.dedup();
            for slice_start in distinct {
                let part = if distinct_is_one(starts.values(), slice_start) {
                    batch.clone()
                } else {
                    let mask: BooleanArray = starts
                        .values()
                        .iter()
                        .map(|s| Some(*s == slice_start))
                        .collect();
                    filter_record_batch(batch, &mask)?
                };
                windows.clear();
                self.window.kind.windows(slice_start, &mut windows);
                let last_end = windows
                    .iter()
                    .map(|(_, end)| *end)
                    .max()
                    .unwrap_or(slice_start);
                for &(start, end) in &windows {
                    self.pending.insert((end, start));
                }
                self.slices
                    .entry(slice_start)
                    .or_insert_with(|| Slice {
                        states: Vec::new(),
                        last_end,
                    })
                    .states
                    .push(part);
            }
        }
        // Keep a slice's states few: merge them once they pile up.
        for slice in self.slices.values_mut() {
            if slice.states.len() > 64 {
                let merged = concat_batches(&slice.states[0].schema(), &slice.states)?;
                slice.states = vec![merged];
            }
        }
        Ok(())
    }

    /// Emits every window ending at or before `watermark` (all, at the end).
    async fn emit_until(&mut self, watermark: Option<i64>) -> Result<Vec<RecordBatch>> {
        let closed: Vec<(i64, i64)> = match watermark {
            Some(w) => self.pending.range(..=(w, i64::MAX)).copied().collect(),
            None => self.pending.iter().copied().collect(),
        };
        if closed.is_empty() {
            return Ok(vec![]);
        }
        let mut states = Vec::new();
        for &(end, start) in &closed {
            self.pending.remove(&(end, start));
            for slice in self.slices.range(start..end).map(|(_, s)| s) {
                for batch in &slice.states {
                    states.push(self.relabel(batch, start, end)?);
                }
            }
        }
        // Free the slices no pending window holds any more.
        match watermark {
            Some(w) => self.slices.retain(|_, slice| slice.last_end > w),
            None => self.slices.clear(),
        }
        if states.is_empty() {
            return Ok(vec![]);
        }
        let aggregated = self
            .run(
                &self.aggregate.final_aggregate,
                &self.aggregate.states_slot,
                states,
            )
            .await?
            .into_iter()
            .map(|b| {
                RecordBatch::try_new(
                    Arc::clone(&self.aggregate.rest_schema),
                    b.columns().to_vec(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.aggregate.rest.run(aggregated).await
    }

    /// The partial states of a slice, with the window's bounds in place of
    /// the slice's.
    fn relabel(&self, batch: &RecordBatch, start: i64, end: i64) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        for (position, value) in self
            .aggregate
            .window_columns
            .iter()
            .zip([start, end, end - 1])
        {
            let Some(i) = *position else { continue };
            let tz = match batch.schema().field(i).data_type() {
                DataType::Timestamp(_, tz) => tz.clone(),
                _ => None,
            };
            columns[i] = ScalarValue::TimestampMillisecond(Some(value), tz)
                .to_array_of_size(batch.num_rows())?;
        }
        Ok(RecordBatch::try_new(batch.schema(), columns)?)
    }
}

#[async_trait::async_trait]
impl Operator for SlicedWindowOperator {
    fn name(&self) -> &'static str {
        "sliced_window"
    }

    fn describe(&self) -> String {
        format!(
            "window: {} over {}, sliced ({}): partial aggregate per slice, final aggregate \
             when the watermark passes window_end",
            self.window.kind.describe(),
            self.window.source_name,
            match self.slice_kind {
                WindowKind::Tumble { size } => format!("slice={}", ms(size)),
                _ => unreachable!("slices are tumbling windows"),
            }
        )
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        if self.in_flight.len() >= WORKERS {
            self.finish_oldest().await?;
        }
        // Slicing (late rows judged against the watermark as of this batch)
        // and the partial aggregate both run in the worker's task.
        let earliest = self.watermark.map(|w| self.window.kind.earliest_on_time(w));
        let slice_kind = self.slice_kind.clone();
        let time_index = self.window.time_index;
        let schema: SchemaRef = Arc::clone(&self.window.schema);
        let metrics = Arc::clone(&self.metrics);
        let (plan, slot) = self.workers[self.next_worker].clone();
        self.next_worker = (self.next_worker + 1) % WORKERS;
        let task = Arc::clone(&self.aggregate.task);
        self.in_flight.push_back(SpawnedTask::spawn(async move {
            let (sliced, late) = assign_fixed(&slice_kind, &batch, time_index, &schema, earliest)?;
            metrics.add_late_rows(late);
            if sliced.num_rows() == 0 {
                return Ok(vec![]);
            }
            run_over(&plan, &slot, vec![sliced], &task).await
        }));
        Ok(Output::default())
    }

    async fn on_watermark(&mut self, watermark: i64) -> Result<Output> {
        self.watermark = Some(watermark);
        self.finish_all().await?;
        Ok(Output {
            batches: self.emit_until(Some(watermark)).await?,
            watermark: Some(watermark),
        })
    }

    async fn on_end_of_input(&mut self) -> Result<Output> {
        self.finish_all().await?;
        Ok(Output::batches(self.emit_until(None).await?))
    }

    fn open_windows(&self) -> usize {
        self.pending.len()
    }

    fn state_bytes(&self) -> usize {
        self.slices
            .values()
            .flat_map(|slice| &slice.states)
            .map(RecordBatch::get_array_memory_size)
            .sum()
    }

    async fn snapshot(&mut self) -> Result<Snapshot> {
        // Partial aggregations still running hold rows already taken in.
        self.finish_all().await?;
        let mut snapshot = Snapshot::default();
        if let Some(watermark) = self.watermark {
            snapshot.set("watermark", watermark);
        }
        // One row per slice (its start and the end of its last window),
        // and every slice's partial states in one table keyed by start.
        let ends: Vec<(i64, i64)> = self.slices.iter().map(|(s, v)| (*s, v.last_end)).collect();
        if !ends.is_empty() {
            snapshot.set_pairs("slices", &ends)?;
        }
        let states = self
            .slices
            .iter()
            .map(|(start, slice)| (*start, slice.states.as_slice()));
        let states = keyed("slice_start", states)?;
        if !states.is_empty() {
            snapshot.set_table("states", states);
        }
        let pending: Vec<(i64, i64)> = self.pending.iter().copied().collect();
        snapshot.set_pairs("pending", &pending)?;
        Ok(snapshot)
    }

    fn restore(&mut self, mut snapshot: Snapshot) -> Result<()> {
        self.watermark = snapshot.take("watermark");
        self.pending = snapshot.take_pairs("pending")?.into_iter().collect();
        for (start, last_end) in snapshot.take_pairs("slices")? {
            let states = Vec::new();
            self.slices.insert(start, Slice { states, last_end });
        }
        for (start, states) in split_keyed("states", snapshot.take_table("states"))? {
            let slice = self.slices.get_mut(&start).ok_or_else(|| {
                Error::query(
                    "the checkpoint's window state holds a slice it does not list; \
                     it was taken by a different query",
                )
            })?;
            slice.states.push(states);
        }
        snapshot.expect_consumed("sliced window operator")
    }
}

fn distinct_is_one(values: &[i64], value: i64) -> bool {
    values.iter().all(|v| *v == value)
}
