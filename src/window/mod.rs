//! Window kinds and the assignment of rows to windows.
//!
//! Times are event-time milliseconds since the epoch. TUMBLE, HOP and
//! CUMULATE windows are aligned to the epoch, as in Flink; a row belongs to
//! every window whose `[start, end)` holds its time. SESSION windows are per
//! key: rows of a key at most `gap` apart are one session, which runs from
//! its first row to its last row plus the gap.
//!
//! Assignment turns a batch into a batch with one row per (row, window) and
//! three more columns: `window_start`, `window_end` and `window_time`
//! (= `window_end` − 1 ms). [`WindowSpec`] is one window function's call:
//! what operators hold.

use std::sync::Arc;

use datafusion::arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, TimestampMillisecondArray, UInt32Array,
};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{
    DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMillisecondType,
};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};

use crate::error::{Error, Result};

mod spec;
pub use spec::WindowSpec;

/// The names of the columns a window table function adds.
pub const WINDOW_COLUMNS: [&str; 3] = ["window_start", "window_end", "window_time"];

/// A window kind with its sizes in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowKind {
    /// Fixed, non-overlapping windows of `size`.
    Tumble {
        /// Window length.
        size: i64,
    },
    /// Windows of `size` starting every `slide`.
    Hop {
        /// Distance between window starts.
        slide: i64,
        /// Window length, a multiple of `slide`.
        size: i64,
    },
    /// Windows growing by `step` from a start aligned to `max_size`.
    Cumulate {
        /// Growth step.
        step: i64,
        /// Largest window, a multiple of `step`.
        max_size: i64,
    },
    /// Per-key sessions closed by a gap of inactivity.
    Session {
        /// Largest distance between two rows of one session.
        gap: i64,
    },
}

impl WindowKind {
    /// Checks the sizes: positive, and multiples where Flink requires them.
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &str, v: i64| {
            if v > 0 {
                Ok(())
            } else {
                Err(Error::query(format!(
                    "the window {name} must be a positive interval"
                )))
            }
        };
        match *self {
            WindowKind::Tumble { size } => positive("size", size),
            WindowKind::Session { gap } => positive("gap", gap),
            WindowKind::Hop { slide, size } => {
                positive("slide", slide)?;
                positive("size", size)?;
                if size % slide != 0 {
                    return Err(Error::query(format!(
                        "HOP size ({size} ms) must be a multiple of its slide ({slide} ms); \
                         remember HOP takes the slide first, then the size"
                    )));
                }
                windows_per_row("HOP", size / slide)
            }
            WindowKind::Cumulate { step, max_size } => {
                positive("step", step)?;
                positive("max size", max_size)?;
                if max_size % step != 0 {
                    return Err(Error::query(format!(
                        "CUMULATE max size ({max_size} ms) must be a multiple of its step ({step} ms)"
                    )));
                }
                windows_per_row("CUMULATE", max_size / step)
            }
        }
    }

    /// Appends the `(start, end)` of every window holding `ts` (not for
    /// sessions, which depend on other rows).
    #[inline]
    pub fn windows(&self, ts: i64, out: &mut Vec<(i64, i64)>) {
        match *self {
            WindowKind::Tumble { size } => {
                let start = floor(ts, size);
                out.push((start, start + size));
            }
            WindowKind::Hop { slide, size } => {
                let last_start = floor(ts, slide);
                let mut start = last_start - size + slide;
                while start <= last_start {
                    out.push((start, start + size));
                    start += slide;
                }
            }
            WindowKind::Cumulate { step, max_size } => {
                let start = floor(ts, max_size);
                let mut end = floor(ts, step) + step;
                while end <= start + max_size {
                    out.push((start, end));
                    end += step;
                }
            }
            WindowKind::Session { gap } => out.push((ts, ts + gap)),
        }
    }

    /// The earliest event time that is still on time once the watermark is
    /// at `watermark`: a row is late (dropped, as in Flink's slicing windows)
    /// when the earliest-ending window holding it ends at or before the
    /// watermark, since that window has been emitted. For fixed windows that
    /// is every row before the start of the step holding the watermark.
    pub fn earliest_on_time(&self, watermark: i64) -> i64 {
        match *self {
            WindowKind::Tumble { size: step }
            | WindowKind::Hop { slide: step, .. }
            | WindowKind::Cumulate { step, .. } => floor(watermark, step),
            // A session row is late once the watermark has passed it.
            WindowKind::Session { .. } => watermark,
        }
    }

    /// A short description for EXPLAIN and errors.
    pub fn describe(&self) -> String {
        match self {
            WindowKind::Tumble { size } => format!("TUMBLE(size={})", ms(*size)),
            WindowKind::Hop { slide, size } => {
                format!("HOP(slide={}, size={})", ms(*slide), ms(*size))
            }
            WindowKind::Cumulate { step, max_size } => {
                format!("CUMULATE(step={}, max_size={})", ms(*step), ms(*max_size))
            }
            WindowKind::Session { gap } => format!("SESSION(gap={})", ms(*gap)),
        }
    }
}

/// A duration in milliseconds as text: `60s`, `250ms`.
pub fn ms(v: i64) -> String {
    if v % 1000 == 0 {
        format!("{}s", v / 1000)
    } else {
        format!("{v}ms")
    }
}

#[inline]
fn floor(ts: i64, size: i64) -> i64 {
    ts - ts.rem_euclid(size)
}

/// The schema of `input` plus the three window columns, typed like Flink's
/// `TIMESTAMP(3)` with the event-time column's time zone.
pub fn windowed_schema(input: &Schema, time_type: &DataType) -> SchemaRef {
    let tz = match time_type {
        DataType::Timestamp(_, tz) => tz.clone(),
        _ => None,
    };
    let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
    for name in WINDOW_COLUMNS {
        fields.push(Field::new(
            name,
            DataType::Timestamp(TimeUnit::Millisecond, tz.clone()),
            false,
        ));
    }
    Arc::new(Schema::new(fields))
}

/// Event times of `column` in milliseconds (NULL stays NULL).
pub fn event_times(column: &ArrayRef) -> Result<TimestampMillisecondArray> {
    match column.data_type() {
        DataType::Timestamp(_, _) => {
            let millis = cast(column, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
            Ok(millis.as_primitive::<TimestampMillisecondType>().clone())
        }
        other => Err(Error::query(format!(
            "event time must be a TIMESTAMP column, not {other}"
        ))),
    }
}

/// Rows repeated once per window, with the window columns appended.
pub struct Assigned {
    /// For each output row, the input row it copies.
    pub rows: Vec<u32>,
    /// Its window's start.
    pub starts: Vec<i64>,
    /// Its window's end.
    pub ends: Vec<i64>,
}

impl Assigned {
    /// An empty assignment with room for `n` rows.
    pub fn with_capacity(n: usize) -> Self {
        Assigned {
            rows: Vec::with_capacity(n),
            starts: Vec::with_capacity(n),
            ends: Vec::with_capacity(n),
        }
    }

    /// Builds the output batch from `batch` and this assignment.
    pub fn apply(self, batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
        let identity = self.rows.len() == batch.num_rows()
            && self.rows.iter().enumerate().all(|(i, r)| *r as usize == i);
        let columns = if identity {
            // Each row once, in order: no copy.
            batch.columns().to_vec()
        } else {
            let indices = UInt32Array::from(self.rows);
            batch
                .columns()
                .iter()
                .map(|c| take(c.as_ref(), &indices, None))
                .collect::<Result<_, _>>()?
        };
        with_window_columns(columns, self.starts, self.ends, schema)
    }
}

/// `columns` followed by window_start, window_end and window_time, typed
/// as `schema` says.
fn with_window_columns(
    mut columns: Vec<ArrayRef>,
    starts: Vec<i64>,
    ends: Vec<i64>,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let window_type = schema.field(columns.len()).data_type();
    let timestamps = |values: Vec<i64>| -> Result<ArrayRef> {
        let values = TimestampMillisecondArray::from(values);
        Ok(match window_type {
            DataType::Timestamp(TimeUnit::Millisecond, tz) => {
                Arc::new(values.with_timezone_opt(tz.clone()))
            }
            other => cast(&values, other)?,
        })
    };
    let times: Vec<i64> = ends.iter().map(|e| e - 1).collect();
    columns.push(timestamps(starts)?);
    columns.push(timestamps(ends)?);
    columns.push(timestamps(times)?);
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// Assigns the rows of `batch` (time in column `time_index`) to fixed
/// windows, dropping rows with a NULL time and late rows: those before
/// `earliest` (see [`WindowKind::earliest_on_time`]). Returns the windowed
/// batch and how many rows were late.
pub fn assign_fixed(
    kind: &WindowKind,
    batch: &RecordBatch,
    time_index: usize,
    schema: &SchemaRef,
    earliest: Option<i64>,
) -> Result<(RecordBatch, usize)> {
    let times = event_times(batch.column(time_index))?;
    let on_time = |ts: i64| earliest.is_none_or(|e| ts >= e);
    let late = times.iter().flatten().filter(|&ts| !on_time(ts)).count();
    if let (WindowKind::Tumble { size }, 0, 0) = (kind, times.null_count(), late) {
        // Each row in one window, in order: the input columns as they are.
        // Event times mostly rise, so the window of the row before usually
        // holds this row too, and no division is needed.
        let (mut start, mut end) = (i64::MAX, i64::MIN);
        let starts: Vec<i64> = times
            .values()
            .iter()
            .map(|&ts| {
                if ts < start || ts >= end {
                    start = floor(ts, *size);
                    end = start + size;
                }
                start
            })
            .collect();
        let ends = starts.iter().map(|s| s + size).collect();
        let windowed = with_window_columns(batch.columns().to_vec(), starts, ends, schema)?;
        return Ok((windowed, 0));
    }
    let mut assigned = Assigned::with_capacity(batch.num_rows());
    let mut windows = Vec::new();
    for (row, ts) in times.iter().enumerate() {
        let Some(ts) = ts.filter(|&ts| on_time(ts)) else {
            continue;
        };
        windows.clear();
        kind.windows(ts, &mut windows);
        for &(start, end) in &windows {
            assigned.rows.push(row as u32);
            assigned.starts.push(start);
            assigned.ends.push(end);
        }
    }
    Ok((assigned.apply(batch, schema)?, late))
}

/// Session assignment over all of `batch`: for each row, the session of its
/// key that holds it. Returns the windowed batch (rows in input order, rows
/// with a NULL time dropped).
pub fn assign_sessions(
    gap: i64,
    batch: &RecordBatch,
    time_index: usize,
    key_indices: &[usize],
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let times = event_times(batch.column(time_index))?;
    let keys = session_keys(batch, key_indices)?;
    let mut order: Vec<usize> = (0..batch.num_rows())
        .filter(|&r| times.is_valid(r))
        .collect();
    order.sort_by(|&a, &b| {
        keys.row(a)
            .cmp(&keys.row(b))
            .then(times.value(a).cmp(&times.value(b)))
    });
    let mut starts = vec![0i64; batch.num_rows()];
    let mut ends = vec![0i64; batch.num_rows()];
    let mut run_begin = 0;
    while run_begin < order.len() {
        // One session: consecutive rows of one key, each at most `gap`
        // after the previous one.
        let mut run_end = run_begin + 1;
        while run_end < order.len()
            && keys.row(order[run_end]) == keys.row(order[run_begin])
            && times.value(order[run_end]) <= times.value(order[run_end - 1]) + gap
        {
            run_end += 1;
        }
        let start = times.value(order[run_begin]);
        let end = times.value(order[run_end - 1]) + gap;
        for &row in &order[run_begin..run_end] {
            starts[row] = start;
            ends[row] = end;
        }
        run_begin = run_end;
    }
    let mut assigned = Assigned::with_capacity(order.len());
    for row in (0..batch.num_rows()).filter(|&r| times.is_valid(r)) {
        assigned.rows.push(row as u32);
        assigned.starts.push(starts[row]);
        assigned.ends.push(ends[row]);
    }
    assigned.apply(batch, schema)
}

/// The session keys of every row, comparable as bytes (no keys: all equal,
/// one session sequence over the whole stream).
pub fn session_keys(
    batch: &RecordBatch,
    key_indices: &[usize],
) -> Result<datafusion::arrow::row::Rows> {
    let columns: Vec<ArrayRef> = if key_indices.is_empty() {
        vec![new_null_array(&DataType::Null, batch.num_rows())]
    } else {
        key_indices
            .iter()
            .map(|&i| Arc::clone(batch.column(i)))
            .collect()
    };
    let fields = columns
        .iter()
        .map(|c| SortField::new(c.data_type().clone()))
        .collect();
    Ok(RowConverter::new(fields)?.convert_columns(&columns)?)
}

/// The most windows one row may fall in (HOP size / slide, CUMULATE max
/// size / step): every row is counted in each, so a HOP of 1 ms over a day
/// (86,400,000 windows) would take all memory for a handful of rows.
pub const MAX_WINDOWS_PER_ROW: i64 = 10_000;

fn windows_per_row(window: &str, count: i64) -> Result<()> {
    if count > MAX_WINDOWS_PER_ROW {
        return Err(Error::query(format!(
            "{window}: every row would fall in {count} windows, more than the \
             {MAX_WINDOWS_PER_ROW} flowsql allows; use a larger slide (or step)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(kind: WindowKind, ts: i64) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        kind.windows(ts, &mut out);
        out
    }

    #[test]
    fn tumble_windows_are_aligned_to_the_epoch() {
        assert_eq!(windows(WindowKind::Tumble { size: 10 }, 25), [(20, 30)]);
        assert_eq!(windows(WindowKind::Tumble { size: 10 }, -5), [(-10, 0)]);
        assert_eq!(windows(WindowKind::Tumble { size: 10 }, 30), [(30, 40)]);
    }

    #[test]
    fn hop_windows_overlap_and_may_start_before_the_row() {
        let kind = WindowKind::Hop { slide: 5, size: 15 };
        assert_eq!(windows(kind.clone(), 12), [(0, 15), (5, 20), (10, 25)]);
        // 12's earliest window [0, 15) ends at 15: late from watermark 15.
        assert_eq!(kind.earliest_on_time(14), 10);
        assert_eq!(kind.earliest_on_time(15), 15);
    }

    #[test]
    fn cumulate_windows_grow_by_step() {
        let kind = WindowKind::Cumulate {
            step: 10,
            max_size: 30,
        };
        assert_eq!(windows(kind.clone(), 45), [(30, 50), (30, 60)]);
        assert_eq!(windows(kind.clone(), 30), [(30, 40), (30, 50), (30, 60)]);
        // 45's earliest window [30, 50) ends at 50: late from watermark 50.
        assert_eq!(kind.earliest_on_time(49), 40);
        assert_eq!(kind.earliest_on_time(50), 50);
    }

    #[test]
    fn sizes_are_checked() {
        assert!(WindowKind::Hop { slide: 4, size: 10 }.validate().is_err());
        assert!(WindowKind::Tumble { size: 0 }.validate().is_err());
        assert!(WindowKind::Cumulate {
            step: 10,
            max_size: 30
        }
        .validate()
        .is_ok());
    }
}
