//! Counters of a running streaming query: rows read, late rows dropped, the
//! current watermark. Shared between the query's task and whoever watches it.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

/// Live counters of one streaming query.
#[derive(Debug)]
pub struct StreamMetrics {
    rows_in: AtomicU64,
    late_rows: AtomicU64,
    watermark: AtomicI64,
    open_windows: AtomicUsize,
    max_open_windows: AtomicUsize,
}

impl Default for StreamMetrics {
    fn default() -> Self {
        StreamMetrics {
            rows_in: AtomicU64::new(0),
            late_rows: AtomicU64::new(0),
            watermark: AtomicI64::new(i64::MIN),
            open_windows: AtomicUsize::new(0),
            max_open_windows: AtomicUsize::new(0),
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

    pub(crate) fn set_watermark(&self, watermark: i64) {
        self.watermark.store(watermark, Ordering::Relaxed);
    }
}
