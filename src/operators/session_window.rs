//! The SESSION window operator: holds the rows of each key's open session
//! and emits a session once the watermark has passed its end (last row plus
//! the gap), running the query's aggregation over its rows.
//!
//! ```text
//! batch ──▶ held rows ──sessionize per key──▶ end < watermark ──▶ EmissionPlan ──▶ results
//!   └─ ts < watermark: late, dropped and counted      └─ otherwise: still open, held
//! ```
//!
//! A row behind the watermark is late: every session it could join or
//! start may already have been emitted. Rows at or after the watermark can
//! only extend sessions that are still open, so emitted sessions never change.

use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::record_batch::RecordBatch;

use super::{Operator, Output};
use crate::error::Result;
use crate::plan::emission::EmissionPlan;
use crate::plan::metrics::StreamMetrics;
use crate::plan::window::{event_times, session_keys, WindowKind};
use crate::plan::window_table::WindowTable;

/// Holds the rows of open sessions.
pub struct SessionWindowOperator {
    window: Arc<WindowTable>,
    plan: EmissionPlan,
    /// Rows of open sessions, in the input's schema.
    held: Vec<RecordBatch>,
    watermark: Option<i64>,
    metrics: Arc<StreamMetrics>,
    open_sessions: usize,
}

impl SessionWindowOperator {
    /// An operator sessionizing rows of `window`'s input.
    pub fn new(window: Arc<WindowTable>, plan: EmissionPlan, metrics: Arc<StreamMetrics>) -> Self {
        SessionWindowOperator {
            window,
            plan,
            held: Vec::new(),
            watermark: None,
            metrics,
            open_sessions: 0,
        }
    }

    /// Emits the sessions that end before `watermark` (all, at the end).
    async fn emit_until(&mut self, watermark: Option<i64>) -> Result<Vec<RecordBatch>> {
        if self.held.is_empty() {
            return Ok(vec![]);
        }
        let input_schema = self.window.source.schema();
        let held = concat_batches(&input_schema, &self.held)?;
        self.held.clear();
        let windowed = self.window.assign(&held, |_| true)?;
        let end_index = windowed.num_columns() - 2;
        let ends = event_times(windowed.column(end_index))?;
        let closed: BooleanArray = (0..ends.len())
            .map(|i| Some(watermark.is_none_or(|w| ends.value(i) < w)))
            .collect();
        let still_open = datafusion::arrow::compute::not(&closed)?;
        let kept = filter_record_batch(&windowed, &still_open)?;
        if kept.num_rows() > 0 {
            // Keep the input columns only; windows are recomputed next time.
            let input_columns =
                kept.project(&(0..input_schema.fields().len()).collect::<Vec<_>>())?;
            self.held.push(input_columns);
        }
        self.open_sessions = count_sessions(&kept, &self.window)?;
        let emitted = filter_record_batch(&windowed, &closed)?;
        if emitted.num_rows() == 0 {
            return Ok(vec![]);
        }
        // One batch per emission: an emission is every row of the windows
        // that closed, which consumers (training per window) rely on.
        let results = self.plan.run(vec![emitted]).await?;
        match results.first() {
            Some(first) => Ok(vec![datafusion::arrow::compute::concat_batches(
                &first.schema(),
                &results,
            )?]),
            None => Ok(results),
        }
    }
}

fn count_sessions(windowed: &RecordBatch, window: &WindowTable) -> Result<usize> {
    if windowed.num_rows() == 0 {
        return Ok(0);
    }
    let keys = session_keys(windowed, &window.key_indices)?;
    let starts = event_times(windowed.column(windowed.num_columns() - 3))?;
    let mut sessions: Vec<(Vec<u8>, i64)> = (0..windowed.num_rows())
        .map(|i| (keys.row(i).as_ref().to_vec(), starts.value(i)))
        .collect();
    sessions.sort_unstable();
    sessions.dedup();
    Ok(sessions.len())
}

#[async_trait::async_trait]
impl Operator for SessionWindowOperator {
    fn describe(&self) -> String {
        format!(
            "session window: {} over {}, emitted when the watermark passes the session's end",
            self.window.kind.describe(),
            self.window.source_name
        )
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        let Some(watermark) = self.watermark else {
            self.held.push(batch);
            return Ok(Output::default());
        };
        let times = event_times(batch.column(self.window.time_index))?;
        let on_time: BooleanArray = (0..times.len())
            .map(|i| Some(times.is_valid(i) && times.value(i) >= watermark))
            .collect();
        let kept = filter_record_batch(&batch, &on_time)?;
        self.metrics.add_late_rows(
            (0..times.len())
                .filter(|&i| times.is_valid(i) && times.value(i) < watermark)
                .count(),
        );
        if kept.num_rows() > 0 {
            self.held.push(kept);
        }
        Ok(Output::default())
    }

    async fn on_watermark(&mut self, watermark: i64) -> Result<Output> {
        debug_assert!(matches!(self.window.kind, WindowKind::Session { .. }));
        self.watermark = Some(watermark);
        Ok(Output {
            batches: self.emit_until(Some(watermark)).await?,
            watermark: Some(watermark),
        })
    }

    async fn on_end_of_input(&mut self) -> Result<Output> {
        Ok(Output::batches(self.emit_until(None).await?))
    }

    fn open_windows(&self) -> usize {
        self.open_sessions
    }
}
