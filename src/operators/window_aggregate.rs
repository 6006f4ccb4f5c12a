//! The window operator for TUMBLE, HOP and CUMULATE queries the sliced
//! operator cannot take (those that use the window columns other than by
//! grouping on them, e.g. in WHERE): holds the rows of each open window and,
//! when the watermark passes a window's end, runs the query over them once
//! and frees them.
//!
//! ```text
//!             rows (with window columns)           watermark >= end
//! batch ──assign──▶ open: BTreeMap<window_end, rows> ──────────────▶ EmissionPlan ──▶ results
//!   │                                                                (DataFusion aggregate)
//!   └─ ts < earliest_on_time(watermark): late, dropped and counted
//! ```
//!
//! A window join (Flink's window join: two or more windowed inputs joined on
//! `window_start` and `window_end`) is the same operator with one side per
//! input, each windowed by its own window function: a window's emission
//! gives each side's rows to that side's scan in the query, so every join
//! kind DataFusion has (inner, outer, semi, anti) runs once per window.
//!
//! State is the rows of the windows still open, so memory depends on the
//! open windows, not on how many events have passed. Rows of overlapping HOP
//! and CUMULATE windows are held once per window; the sliced operator avoids
//! that where it can.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::record_batch::RecordBatch;

use super::{Operator, Output};
use crate::checkpoint::snapshot::{keyed, split_keyed};
use crate::checkpoint::Snapshot;
use crate::error::{Error, Result};
use crate::metrics::StreamMetrics;
use crate::operators::emission::EmissionPlan;
use crate::window::{event_times, WindowSpec};

/// Holds open windows and emits each once.
pub struct WindowAggregateOperator {
    /// Per side, its window function (one side but for a window join).
    windows: Vec<Arc<WindowSpec>>,
    plan: EmissionPlan,
    /// Rows of each open window, by window end (ms), per side.
    open: BTreeMap<i64, Vec<Vec<RecordBatch>>>,
    watermark: Option<i64>,
    metrics: Arc<StreamMetrics>,
}

impl WindowAggregateOperator {
    /// An operator assigning rows to `window` and running `plan` per emission.
    pub fn new(window: Arc<WindowSpec>, plan: EmissionPlan, metrics: Arc<StreamMetrics>) -> Self {
        Self::joining(vec![window], plan, metrics)
    }

    /// A window join: side `i`'s rows assigned to `windows[i]` (windows of
    /// one kind and size), `plan` (with one target per side) run per
    /// emission.
    pub fn joining(
        windows: Vec<Arc<WindowSpec>>,
        plan: EmissionPlan,
        metrics: Arc<StreamMetrics>,
    ) -> Self {
        WindowAggregateOperator {
            windows,
            plan,
            open: BTreeMap::new(),
            watermark: None,
            metrics,
        }
    }

    async fn emit_until(&mut self, watermark: Option<i64>) -> Result<Vec<RecordBatch>> {
        let closed: Vec<i64> = match watermark {
            Some(w) => self.open.range(..=w).map(|(end, _)| *end).collect(),
            None => self.open.keys().copied().collect(),
        };
        if closed.is_empty() {
            return Ok(vec![]);
        }
        let mut rows = vec![Vec::new(); self.windows.len()];
        for end in closed {
            let sides = self.open.remove(&end).unwrap_or_default();
            for (side, held) in rows.iter_mut().zip(sides) {
                side.extend(held);
            }
        }
        // One batch per emission: an emission is every row of the windows
        // that closed, which consumers (training per window) rely on.
        let results = self.plan.run_each(rows).await?;
        match results.first() {
            Some(first) => Ok(vec![datafusion::arrow::compute::concat_batches(
                &first.schema(),
                &results,
            )?]),
            None => Ok(results),
        }
    }
}

#[async_trait::async_trait]
impl Operator for WindowAggregateOperator {
    fn name(&self) -> &'static str {
        "window"
    }

    fn describe(&self) -> String {
        let sources: Vec<&str> = self
            .windows
            .iter()
            .map(|w| w.source_name.as_str())
            .collect();
        let what = if sources.len() > 1 {
            "window join"
        } else {
            "window"
        };
        format!(
            "{what}: {} over {}, emitted when the watermark passes window_end",
            self.windows[0].kind.describe(),
            sources.join(", ")
        )
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        self.process_input(0, batch).await
    }

    async fn process_input(&mut self, side: usize, batch: RecordBatch) -> Result<Output> {
        let window = self
            .windows
            .get(side)
            .ok_or_else(|| Error::Internal(format!("a window join has no side {side}")))?;
        let earliest = self.watermark.map(|w| window.kind.earliest_on_time(w));
        let (windowed, late) = window.assign(&batch, earliest)?;
        self.metrics.add_late_rows(late);
        if windowed.num_rows() == 0 {
            return Ok(Output::default());
        }
        // Split the rows by window end.
        let end_index = windowed.num_columns() - 2;
        let ends = event_times(windowed.column(end_index))?;
        let ends = ends.values();
        let mut distinct: Vec<i64> = ends.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        for end in distinct {
            let part = if self.open.is_empty() && ends.iter().all(|e| *e == end) {
                windowed.clone()
            } else {
                let mask: BooleanArray = ends.iter().map(|e| Some(*e == end)).collect();
                filter_record_batch(&windowed, &mask)?
            };
            let sides = self.windows.len();
            self.open
                .entry(end)
                .or_insert_with(|| vec![Vec::new(); sides])[side]
                .push(part);
        }
        Ok(Output::default())
    }

    async fn on_watermark(&mut self, watermark: i64) -> Result<Output> {
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
        self.open.len()
    }

    fn held_rows(&self) -> usize {
        self.open
            .values()
            .flatten()
            .flatten()
            .map(RecordBatch::num_rows)
            .sum()
    }

    fn state_bytes(&self) -> usize {
        self.open
            .values()
            .flatten()
            .flatten()
            .map(RecordBatch::get_array_memory_size)
            .sum()
    }

    async fn snapshot(&mut self) -> Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        if let Some(watermark) = self.watermark {
            snapshot.set("watermark", watermark);
        }
        for side in 0..self.windows.len() {
            let windows = self
                .open
                .iter()
                .map(|(end, sides)| (*end, sides[side].as_slice()));
            let table = keyed("window_end", windows)?;
            if !table.is_empty() {
                snapshot.set_table(side_table(side), table);
            }
        }
        Ok(snapshot)
    }

    fn restore(&mut self, mut snapshot: Snapshot) -> Result<()> {
        self.watermark = snapshot.take("watermark");
        let sides = self.windows.len();
        for side in 0..sides {
            let name = side_table(side);
            for (end, rows) in split_keyed(&name, snapshot.take_table(&name))? {
                self.open
                    .entry(end)
                    .or_insert_with(|| vec![Vec::new(); sides])[side]
                    .push(rows);
            }
        }
        snapshot.expect_consumed("window operator")
    }
}

/// The checkpoint table of side `side`'s held rows.
fn side_table(side: usize) -> String {
    match side {
        0 => "windows".to_string(),
        _ => format!("windows/{side}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::testing::{emission, events, feed, rows, spec};
    use crate::window::WindowKind;

    const COUNTS: &str = "SELECT window_start, k, COUNT(*) AS n FROM w
                          WHERE window_end > window_start
                          GROUP BY window_start, window_end, k";

    async fn operator() -> WindowAggregateOperator {
        let window = spec(WindowKind::Tumble { size: 10_000 });
        let plan = emission(&window, COUNTS).await;
        WindowAggregateOperator::new(window, plan, Arc::default())
    }

    #[tokio::test]
    async fn a_window_is_emitted_once_when_the_watermark_passes_its_end() {
        let mut op = operator().await;
        let input = [
            events(&[(1, 1_000), (2, 2_000), (1, 9_999)]),
            events(&[(1, 12_000)]),
        ];
        let before = feed(&mut op, &input, 9_999).await;
        assert!(rows(&before).is_empty(), "the first window is still open");
        assert_eq!(op.open_windows(), 2);
        let closed = feed(&mut op, &[], 10_000).await;
        assert_eq!(
            rows(&closed),
            ["1970-01-01T00:00:00|1|2", "1970-01-01T00:00:00|2|1"]
        );
        let late = feed(&mut op, &[events(&[(3, 5_000)])], 10_000).await;
        assert!(rows(&late).is_empty(), "a late row is dropped");
        let end = op.on_end_of_input().await.unwrap();
        assert_eq!(rows(&end), ["1970-01-01T00:00:10|1|1"]);
    }

    #[tokio::test]
    async fn a_restored_operator_emits_what_the_original_would() {
        let mut original = operator().await;
        let input = [events(&[(1, 1_000), (2, 12_000), (2, 25_000)])];
        feed(&mut original, &input, 1_000).await;
        let snapshot = original.snapshot().await.unwrap();
        let mut restored = operator().await;
        restored.restore(snapshot.clone()).unwrap();
        assert_eq!(restored.snapshot().await.unwrap(), snapshot);
        for op in [&mut original, &mut restored] {
            let out = feed(op, &[events(&[(1, 3_000)])], 20_000).await;
            assert_eq!(
                rows(&out),
                ["1970-01-01T00:00:00|1|2", "1970-01-01T00:00:10|2|1"]
            );
        }
        let (a, b) = (
            original.on_end_of_input().await.unwrap(),
            restored.on_end_of_input().await.unwrap(),
        );
        assert_eq!(rows(&a), rows(&b));
        assert_eq!(rows(&a), ["1970-01-01T00:00:20|2|1"]);
    }
}
