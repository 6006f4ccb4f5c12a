//! The processing-time clock of a window on `PROCTIME()`: stamps each row
//! with the wall-clock time it reaches the window and makes the watermark
//! from the clock, so processing-time windows close when the wall clock
//! passes their end, as in Flink, whether rows keep coming or not.
//!
//! The pipeline ticks an operator that keeps processing time
//! ([`Operator::keeps_processing_time`]) every [`TICK`] while the query
//! runs ([`Operator::on_tick`]); each tick raises the watermark to the
//! clock. A row's time is taken here, in the pipeline's task, not where
//! `PROCTIME()` was first computed (the source reads ahead in a task of its
//! own): a row stamped before a tick could otherwise reach the window
//! after the tick closed its window, and be dropped as late. Stamped here,
//! no row is ever late. The clock only rises: a wall clock set back holds
//! the watermark where it was.
//!
//! Event-time watermarks from below (a stream's own WATERMARK) mean nothing
//! to a processing-time window and are not passed on. Nothing is
//! checkpointed: a restored window closes by the clock of the new run.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use datafusion::arrow::array::{ArrayRef, TimestampMillisecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::record_batch::RecordBatch;

use super::{Operator, Output};
use crate::error::Result;
use crate::metrics::StreamMetrics;

/// How often the pipeline raises a processing-time watermark while no rows
/// come: a window's result appears at most this long after its end.
pub const TICK: Duration = Duration::from_millis(50);

/// Stamps rows with the processing time; makes watermarks from the clock.
pub struct ProcessingTimeOperator {
    /// The time column's index (the `PROCTIME()` column the window names).
    time_index: usize,
    /// The column's name, for EXPLAIN.
    time_column: String,
    /// The highest clock reading passed on, in milliseconds.
    now: Option<i64>,
    metrics: Arc<StreamMetrics>,
}

impl ProcessingTimeOperator {
    /// A clock for the window on column `time_index` (named `time_column`).
    pub fn new(time_index: usize, time_column: String, metrics: Arc<StreamMetrics>) -> Self {
        ProcessingTimeOperator {
            time_index,
            time_column,
            now: None,
            metrics,
        }
    }

    /// The clock, never lower than a reading passed on before.
    fn read_clock(&self, clock: i64) -> i64 {
        self.now.map_or(clock, |now| now.max(clock))
    }

    /// Passes on watermark `now` if it rose.
    fn advance(&mut self, now: i64) -> Option<i64> {
        if self.now.is_some_and(|old| old >= now) {
            return None;
        }
        self.now = Some(now);
        self.metrics.set_watermark(now);
        Some(now)
    }
}

/// The wall clock, in milliseconds since the epoch (UTC), as `PROCTIME()`
/// reads it.
pub fn wall_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[async_trait::async_trait]
impl Operator for ProcessingTimeOperator {
    fn name(&self) -> &'static str {
        "processing_time"
    }

    fn describe(&self) -> String {
        format!(
            "processing time: {} is the wall clock as each row reaches the window; the \
             watermark follows the clock (every {} ms)",
            self.time_column,
            TICK.as_millis()
        )
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        let now = self.read_clock(wall_clock());
        let field = batch.schema().field(self.time_index).clone();
        let stamped: ArrayRef =
            Arc::new(TimestampMillisecondArray::from_value(now, batch.num_rows()));
        let mut columns = batch.columns().to_vec();
        columns[self.time_index] = cast(&stamped, field.data_type())?;
        let batch = RecordBatch::try_new(batch.schema(), columns)?;
        Ok(Output {
            batches: vec![batch],
            watermark: self.advance(now),
        })
    }

    async fn on_watermark(&mut self, _event_time: i64) -> Result<Output> {
        Ok(Output::default())
    }

    async fn on_tick(&mut self, clock: i64) -> Result<Output> {
        let now = self.read_clock(clock);
        Ok(Output {
            batches: Vec::new(),
            watermark: self.advance(now),
        })
    }

    fn keeps_processing_time(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::TimestampMillisecondType;

    use super::*;
    use crate::operators::testing::events;

    #[tokio::test]
    async fn rows_take_the_clock_and_the_watermark_only_rises() {
        let metrics = Arc::new(StreamMetrics::default());
        let mut op = ProcessingTimeOperator::new(1, "ts".into(), Arc::clone(&metrics));
        let before = wall_clock();
        let out = op
            .process_batch(events(&[(1, 5_000), (2, 3_000)]))
            .await
            .unwrap();
        let times = out.batches[0]
            .column(1)
            .as_primitive::<TimestampMillisecondType>();
        let stamp = times.value(0);
        assert!(stamp >= before && (0..times.len()).all(|i| times.value(i) == stamp));
        assert_eq!(out.watermark, Some(stamp));
        assert_eq!(metrics.watermark(), Some(stamp));

        let out = op.on_watermark(i64::MAX).await.unwrap();
        assert_eq!(
            out.watermark, None,
            "event time does not move processing time"
        );
        let out = op.on_tick(stamp - 1_000).await.unwrap();
        assert_eq!(out.watermark, None, "a clock set back holds the watermark");
        let out = op.process_batch(events(&[(1, 1)])).await.unwrap();
        let times = out.batches[0]
            .column(1)
            .as_primitive::<TimestampMillisecondType>();
        assert!(
            times.value(0) >= stamp,
            "no row is stamped behind the watermark"
        );
        let out = op.on_tick(stamp + 60_000).await.unwrap();
        assert_eq!(out.watermark, Some(stamp + 60_000));
    }
}
