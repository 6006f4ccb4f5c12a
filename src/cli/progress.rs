//! The live progress line: rows read, rows/s, watermark, late rows and
//! malformed records of a running streaming query or job, redrawn on
//! standard error twice a second. Only on a terminal, never with `-q`.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flowsql::StreamMetrics;

/// A progress line being drawn; dropping it stops and erases it.
pub struct Progress {
    shown: Arc<Mutex<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts drawing the counters of `metrics` when standard error is a
    /// terminal and `quiet` is off.
    pub fn start(metrics: Vec<Arc<StreamMetrics>>, quiet: bool) -> Option<Progress> {
        if quiet || metrics.is_empty() || !std::io::stderr().is_terminal() {
            return None;
        }
        let shown = Arc::new(Mutex::new(false));
        let drawn = Arc::clone(&shown);
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut ticker = tokio::time::interval(Duration::from_millis(500));
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let line = describe(&metrics, started.elapsed());
                if let Ok(mut shown) = drawn.lock() {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r\x1b[2K{line}");
                    let _ = err.flush();
                    *shown = true;
                }
            }
        });
        Some(Progress { shown, task })
    }

    /// Erases the line (before results are printed over it).
    pub fn clear(&self) {
        if let Ok(mut shown) = self.shown.lock() {
            if *shown {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K");
                let _ = err.flush();
                *shown = false;
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
        self.clear();
    }
}

fn describe(metrics: &[Arc<StreamMetrics>], elapsed: Duration) -> String {
    let rows: u64 = metrics.iter().map(|m| m.rows_in()).sum();
    let late: u64 = metrics.iter().map(|m| m.late_rows()).sum();
    let malformed: u64 = metrics.iter().map(|m| m.malformed()).sum();
    let rate = rows as f64 / elapsed.as_secs_f64().max(0.001);
    let watermark = metrics
        .iter()
        .filter_map(|m| m.watermark())
        .min()
        .and_then(datafusion::arrow::temporal_conversions::timestamp_ms_to_datetime)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".to_string());
    format!(
        "{rows} rows read, {rate:.0} rows/s, watermark {watermark}, {late} late, {malformed} malformed"
    )
}
