//! Counters of a running streaming query: rows read, late rows dropped,
//! malformed records skipped, the current watermark, open windows, rows
//! held as state. Shared between the query's task and whoever watches it.

use crate::checkpoint::Snapshot;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Live counters of one streaming query.
#[derive(Debug)]
pub struct StreamMetrics {
    rows_in: AtomicU64,
    late_rows: AtomicU64,
    watermark: AtomicI64,
    /// The watermark before the batch being processed (CURRENT_WATERMARK).
    watermark_before_batch: AtomicI64,
    open_windows: AtomicUsize,
    max_open_windows: AtomicUsize,
    held_rows: AtomicUsize,
    max_held_rows: AtomicUsize,
    malformed: AtomicU64,
    listening_on: Mutex<Option<SocketAddr>>,
}

impl Default for StreamMetrics {
    fn default() -> Self {
        StreamMetrics {
            rows_in: AtomicU64::new(0),
            late_rows: AtomicU64::new(0),
            watermark: AtomicI64::new(i64::MIN),
            watermark_before_batch: AtomicI64::new(i64::MIN),
            open_windows: AtomicUsize::new(0),
            max_open_windows: AtomicUsize::new(0),
            held_rows: AtomicUsize::new(0),
            max_held_rows: AtomicUsize::new(0),
            malformed: AtomicU64::new(0),
            listening_on: Mutex::new(None),
        }
    }
}

impl StreamMetrics {
    /// Rows read from the source.
    pub fn rows_in(&self) -> u64 {
        self.rows_in.load(Ordering::Relaxed)
    }

    /// Rows dropped because their window had already been emitted.
    pub fn late_rows(&self) -> u64 {
        self.late_rows.load(Ordering::Relaxed)
    }

    /// The current watermark in event-time milliseconds, once there is one.
    pub fn watermark(&self) -> Option<i64> {
        match self.watermark.load(Ordering::Relaxed) {
            i64::MIN => None,
            w => Some(w),
        }
    }

    /// Windows (or sessions) held open now: the query's state.
    pub fn open_windows(&self) -> usize {
        self.open_windows.load(Ordering::Relaxed)
    }

    /// The most windows (or sessions) ever held open at once.
    pub fn max_open_windows(&self) -> usize {
        self.max_open_windows.load(Ordering::Relaxed)
    }

    /// Malformed records skipped (with `'<format>.ignore-parse-errors'`), and
    /// rows of a stream whose event time is NULL.
    pub fn malformed(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }

    /// The address a server-mode source listens on (its port, when the
    /// table asked for port 0).
    pub fn listening_on(&self) -> Option<SocketAddr> {
        self.listening_on.lock().ok().and_then(|a| *a)
    }

    pub(crate) fn add_malformed(&self, n: usize) {
        self.malformed.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn set_listening_on(&self, address: SocketAddr) {
        if let Ok(mut slot) = self.listening_on.lock() {
            *slot = Some(address);
        }
    }

    /// Rows the operators hold now (a join's sides, a window's rows).
    pub fn held_rows(&self) -> usize {
        self.held_rows.load(Ordering::Relaxed)
    }

    /// The most rows held at once so far.
    pub fn max_held_rows(&self) -> usize {
        self.max_held_rows.load(Ordering::Relaxed)
    }

    pub(crate) fn record_held_rows(&self, n: usize) {
        self.held_rows.store(n, Ordering::Relaxed);
        self.max_held_rows.fetch_max(n, Ordering::Relaxed);
    }

    pub(crate) fn record_open_windows(&self, n: usize) {
        self.open_windows.store(n, Ordering::Relaxed);
        self.max_open_windows.fetch_max(n, Ordering::Relaxed);
    }

    pub(crate) fn add_rows_in(&self, n: usize) {
        self.rows_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_late_rows(&self, n: usize) {
        self.late_rows.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The watermark as it was before the batch being processed, when
    /// there was one (what `CURRENT_WATERMARK(ts)` gives its rows).
    pub fn watermark_before_batch(&self) -> Option<i64> {
        let w = self.watermark_before_batch.load(Ordering::Relaxed);
        (w != i64::MIN).then_some(w)
    }

    pub(crate) fn begin_batch(&self) {
        let current = self.watermark.load(Ordering::Relaxed);
        self.watermark_before_batch
            .store(current, Ordering::Relaxed);
    }

    pub(crate) fn set_watermark(&self, watermark: i64) {
        self.watermark.store(watermark, Ordering::Relaxed);
    }

    /// The counters a restarted query goes on from (rows read, late and
    /// malformed rows).
    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        snapshot.set("rows_in", self.rows_in() as i64);
        snapshot.set("late_rows", self.late_rows() as i64);
        snapshot.set("malformed", self.malformed() as i64);
        snapshot
    }

    /// Goes on from the counters of [`StreamMetrics::snapshot`].
    pub(crate) fn restore(&self, mut snapshot: Snapshot) {
        let mut counter = |name: &str, counter: &AtomicU64| {
            if let Some(value) = snapshot.take(name) {
                counter.store(value as u64, Ordering::Relaxed);
            }
        };
        counter("rows_in", &self.rows_in);
        counter("late_rows", &self.late_rows);
        counter("malformed", &self.malformed);
    }
}
