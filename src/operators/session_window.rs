//! The SESSION window operator: sessionizes rows as they arrive, per key,
//! holds each open session's rows, and emits a session once the watermark
//! has passed its end (last row plus the gap), running the query's
//! aggregation over its rows.
//!
//! ```text
//! batch ──▶ row joins (or merges) its key's open sessions ──▶ end < watermark ──▶ EmissionPlan ──▶ results
//!   └─ ts < watermark: late, dropped and counted
//! ```
//!
//! A row at `t` joins every open session of its key within `gap` of it (a
//! session is `[first row, last row + gap)`), merging them; otherwise it
//! starts one. Each batch is sessionized in one pass over its rows; a
//! session keeps references to its rows, and an input batch is released
//! once none of its rows is in an open session. A row behind the watermark
//! is late: every session it could join or start may already have been
//! emitted. Rows at or after the watermark can only extend sessions that
//! are still open, so emitted sessions never change.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{Array, UInt32Array};
use datafusion::arrow::compute::{concat_batches, take_record_batch};
use datafusion::arrow::record_batch::RecordBatch;

use super::{Operator, Output};
use crate::checkpoint::Snapshot;
use crate::error::{Error, Result};
use crate::metrics::StreamMetrics;
use crate::operators::emission::EmissionPlan;
use crate::window::{event_times, session_keys, Assigned, WindowKind, WindowSpec};

/// An input batch some open session still has rows of.
struct HeldBatch {
    batch: RecordBatch,
    /// Its rows still in open sessions.
    live: usize,
}

/// One key's open session.
struct OpenSession {
    start: i64,
    /// The last row's time plus the gap.
    end: i64,
    /// Its rows: (held batch, row).
    rows: Vec<(u32, u32)>,
}

/// Sessionizes rows per key and holds the rows of open sessions.
pub struct SessionWindowOperator {
    window: Arc<WindowSpec>,
    plan: EmissionPlan,
    gap: i64,
    batches: HashMap<u32, HeldBatch>,
    next_batch: u32,
    /// Each key's open sessions (keys as row-format bytes).
    sessions: HashMap<Box<[u8]>, Vec<OpenSession>>,
    open_sessions: usize,
    watermark: Option<i64>,
    metrics: Arc<StreamMetrics>,
}

impl SessionWindowOperator {
    /// An operator sessionizing rows of `window`'s input.
    pub fn new(window: Arc<WindowSpec>, plan: EmissionPlan, metrics: Arc<StreamMetrics>) -> Self {
        let gap = match window.kind {
            WindowKind::Session { gap } => gap,
            _ => 0,
        };
        SessionWindowOperator {
            window,
            plan,
            gap,
            batches: HashMap::new(),
            next_batch: 0,
            sessions: HashMap::new(),
            open_sessions: 0,
            watermark: None,
            metrics,
        }
    }

    /// Adds row `row` at time `t` to its key's sessions.
    fn add(&mut self, key: &[u8], t: i64, row: (u32, u32)) {
        let gap = self.gap;
        let sessions = match self.sessions.get_mut(key) {
            Some(sessions) => sessions,
            None => self.sessions.entry(key.into()).or_default(),
        };
        let mut merged = OpenSession {
            start: t,
            end: t + gap,
            rows: vec![row],
        };
        let mut i = 0;
        while i < sessions.len() {
            let session = &sessions[i];
            if session.start <= t + gap && t <= session.end {
                let mut session = sessions.swap_remove(i);
                self.open_sessions -= 1;
                merged.start = merged.start.min(session.start);
                merged.end = merged.end.max(session.end);
                if session.rows.len() > merged.rows.len() {
                    std::mem::swap(&mut session.rows, &mut merged.rows);
                }
                merged.rows.append(&mut session.rows);
            } else {
                i += 1;
            }
        }
        sessions.push(merged);
        self.open_sessions += 1;
    }

    /// Sessionizes the rows of `batch` at or after `watermark` (the others
    /// are late) and holds the batch while any of its rows is in an open
    /// session. Returns how many rows were late.
    fn hold(&mut self, batch: RecordBatch, watermark: Option<i64>) -> Result<usize> {
        let times = event_times(batch.column(self.window.time_index))?;
        let keys = session_keys(&batch, &self.window.key_indices)?;
        let id = self.next_batch;
        let (mut live, mut late) = (0, 0);
        for row in 0..batch.num_rows() {
            if !times.is_valid(row) {
                continue;
            }
            let t = times.value(row);
            if watermark.is_some_and(|w| t < w) {
                late += 1;
                continue;
            }
            live += 1;
            self.add(keys.row(row).as_ref(), t, (id, row as u32));
        }
        if live > 0 {
            self.batches.insert(id, HeldBatch { batch, live });
            self.next_batch += 1;
        }
        Ok(late)
    }

    /// Emits the sessions that end before `watermark` (all, at the end).
    async fn emit_until(&mut self, watermark: Option<i64>) -> Result<Vec<RecordBatch>> {
        let mut per_batch: BTreeMap<u32, Assigned> = BTreeMap::new();
        self.sessions.retain(|_, sessions| {
            sessions.retain(|session| {
                if watermark.is_some_and(|w| session.end >= w) {
                    return true;
                }
                for &(batch, row) in &session.rows {
                    let assigned = per_batch
                        .entry(batch)
                        .or_insert_with(|| Assigned::with_capacity(0));
                    assigned.rows.push(row);
                    assigned.starts.push(session.start);
                    assigned.ends.push(session.end);
                }
                false
            });
            !sessions.is_empty()
        });
        self.open_sessions = self.sessions.values().map(Vec::len).sum();
        if per_batch.is_empty() {
            return Ok(vec![]);
        }
        let schema = Arc::clone(&self.window.schema);
        let mut parts = Vec::with_capacity(per_batch.len());
        for (id, assigned) in per_batch {
            let held = self
                .batches
                .get_mut(&id)
                .ok_or_else(|| Error::Internal(format!("session rows of a released batch {id}")))?;
            held.live -= assigned.rows.len();
            parts.push(assigned.apply(&held.batch, &schema)?);
            if held.live == 0 {
                self.batches.remove(&id);
            }
        }
        // One batch per emission: an emission is every row of the windows
        // that closed, which consumers (training per window) rely on.
        let emitted = concat_batches(&schema, &parts)?;
        let results = self.plan.run(vec![emitted]).await?;
        match results.first() {
            Some(first) => Ok(vec![concat_batches(&first.schema(), &results)?]),
            None => Ok(results),
        }
    }
}

#[async_trait::async_trait]
impl Operator for SessionWindowOperator {
    fn name(&self) -> &'static str {
        "session_window"
    }

    fn describe(&self) -> String {
        format!(
            "session window: {} over {}, emitted when the watermark passes the session's end",
            self.window.kind.describe(),
            self.window.source_name
        )
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        let late = self.hold(batch, self.watermark)?;
        self.metrics.add_late_rows(late);
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

    fn state_bytes(&self) -> usize {
        self.batches
            .values()
            .map(|held| held.batch.get_array_memory_size())
            .sum()
    }

    /// The rows of the open sessions (sessions are made again from them on
    /// restore: a key's sessions depend on its rows, not on their order).
    async fn snapshot(&mut self) -> Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        if let Some(watermark) = self.watermark {
            snapshot.set("watermark", watermark);
        }
        let mut per_batch: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for session in self.sessions.values().flatten() {
            for &(batch, row) in &session.rows {
                per_batch.entry(batch).or_default().push(row);
            }
        }
        let mut rows = Vec::with_capacity(per_batch.len());
        for (id, mut indices) in per_batch {
            let held = self
                .batches
                .get(&id)
                .ok_or_else(|| Error::Internal(format!("session rows of a released batch {id}")))?;
            indices.sort_unstable();
            let indices = UInt32Array::from(indices);
            rows.push(take_record_batch(&held.batch, &indices)?);
        }
        snapshot.set_table("rows", rows);
        Ok(snapshot)
    }

    fn restore(&mut self, mut snapshot: Snapshot) -> Result<()> {
        self.watermark = snapshot.take("watermark");
        for batch in snapshot.take_table("rows") {
            self.hold(batch, None)?;
        }
        snapshot.expect_consumed("session window operator")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::testing::{emission, events, feed, rows, spec};

    const SESSIONS: &str = "SELECT k, window_start, window_end, COUNT(*) AS n FROM w
                            GROUP BY window_start, window_end, k";

    async fn operator() -> SessionWindowOperator {
        let window = spec(WindowKind::Session { gap: 1_000 });
        let plan = emission(&window, SESSIONS).await;
        SessionWindowOperator::new(window, plan, Arc::default())
    }

    #[tokio::test]
    async fn sessions_close_a_gap_after_their_last_row_per_key() {
        let mut op = operator().await;
        let input = [events(&[(1, 0), (1, 500), (2, 700)]), events(&[(1, 1_400)])];
        let open = feed(&mut op, &input, 1_000).await;
        assert!(rows(&open).is_empty());
        // A session is emitted once the watermark is past its end.
        let first = feed(&mut op, &[], 2_400).await;
        assert_eq!(
            rows(&first),
            ["2|1970-01-01T00:00:00.700|1970-01-01T00:00:01.700|1"]
        );
        let second = feed(&mut op, &[], 2_401).await;
        assert_eq!(
            rows(&second),
            ["1|1970-01-01T00:00:00|1970-01-01T00:00:02.400|3"]
        );
    }

    #[tokio::test]
    async fn a_restored_operator_emits_what_the_original_would() {
        let mut original = operator().await;
        feed(&mut original, &[events(&[(1, 0), (2, 300)])], 0).await;
        let snapshot = original.snapshot().await.unwrap();
        let mut restored = operator().await;
        restored.restore(snapshot).unwrap();
        let more = [events(&[(1, 900), (2, 5_000)])];
        let a = feed(&mut original, &more, 3_000).await;
        let b = feed(&mut restored, &more, 3_000).await;
        assert_eq!(rows(&a), rows(&b));
        assert_eq!(
            rows(&a),
            [
                "1|1970-01-01T00:00:00|1970-01-01T00:00:01.900|2",
                "2|1970-01-01T00:00:00.300|1970-01-01T00:00:01.300|1"
            ]
        );
        let (a, b) = (
            original.on_end_of_input().await.unwrap(),
            restored.on_end_of_input().await.unwrap(),
        );
        assert_eq!(rows(&a), rows(&b));
    }
}
