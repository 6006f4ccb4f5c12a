//! The watermark generator: evaluates the table's `WATERMARK FOR ts AS expr`
//! for every batch and forwards the highest value seen, which only rises.
//!
//! The expression is evaluated once per batch, on the batch's row with the
//! latest event time: a watermark expression rises with event time (`ts -
//! INTERVAL '5' SECOND`), so that row gives the batch's highest watermark.
//! Evaluating it on every row cost more than the rest of a windowed query
//! (Arrow subtracts intervals from timestamps row by row through calendar
//! arithmetic).
//!
//! A row whose event time is NULL cannot be placed in time (Flink fails the
//! job on one): it is dropped here and counted as a malformed record, so
//! it is neither lost silently nor seen by some operators and not others.

use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;

use super::{Operator, Output};
use crate::checkpoint::Snapshot;
use crate::error::Result;
use crate::metrics::StreamMetrics;
use crate::window::event_times;

/// Computes watermarks from each batch; passes the batch on unchanged.
pub struct WatermarkOperator {
    expr: Arc<dyn PhysicalExpr>,
    text: String,
    /// The event-time column's index.
    time_index: usize,
    watermark: Option<i64>,
    metrics: Arc<StreamMetrics>,
}

impl WatermarkOperator {
    /// A generator evaluating `expr` (written as `text`) over event time
    /// column `time_index`.
    pub fn new(
        expr: Arc<dyn PhysicalExpr>,
        text: String,
        time_index: usize,
        metrics: Arc<StreamMetrics>,
    ) -> Self {
        WatermarkOperator {
            expr,
            text,
            time_index,
            watermark: None,
            metrics,
        }
    }
}

#[async_trait::async_trait]
impl Operator for WatermarkOperator {
    fn name(&self) -> &'static str {
        "watermark"
    }

    fn describe(&self) -> String {
        format!("watermark: {}", self.text)
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        self.metrics.begin_batch();
        let batch = match batch.column(self.time_index).logical_nulls() {
            Some(nulls) if nulls.null_count() > 0 => {
                self.metrics.add_malformed(nulls.null_count());
                let valid = BooleanArray::new(nulls.inner().clone(), None);
                filter_record_batch(&batch, &valid)?
            }
            _ => batch,
        };
        let times = event_times(batch.column(self.time_index))?;
        let latest = (0..times.len())
            .filter(|&i| times.is_valid(i))
            .max_by_key(|&i| times.value(i));
        let batch_max = match latest {
            Some(row) => {
                let row = batch.slice(row, 1);
                let values = self.expr.evaluate(&row)?.into_array(1)?;
                let values = event_times(&values)?;
                values.is_valid(0).then(|| values.value(0))
            }
            None => None,
        };
        let risen = match (batch_max, self.watermark) {
            (Some(new), Some(old)) if new > old => Some(new),
            (Some(new), None) => Some(new),
            _ => None,
        };
        if let Some(watermark) = risen {
            self.watermark = Some(watermark);
            self.metrics.set_watermark(watermark);
        }
        Ok(Output {
            batches: vec![batch],
            watermark: risen,
        })
    }

    async fn snapshot(&mut self) -> Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        if let Some(watermark) = self.watermark {
            snapshot.set("watermark", watermark);
        }
        Ok(snapshot)
    }

    fn restore(&mut self, mut snapshot: Snapshot) -> Result<()> {
        self.watermark = snapshot.take("watermark");
        if let Some(watermark) = self.watermark {
            self.metrics.set_watermark(watermark);
        }
        snapshot.expect_consumed("watermark")
    }
}

#[cfg(test)]
mod tests {
    use datafusion::logical_expr::{col, lit};
    use datafusion::prelude::SessionContext;

    use super::*;
    use crate::operators::testing::{events, events_schema};

    /// `WATERMARK FOR ts AS ts - INTERVAL '1' SECOND`.
    fn operator(metrics: &Arc<StreamMetrics>) -> WatermarkOperator {
        let schema =
            datafusion::common::DFSchema::try_from(events_schema().as_ref().clone()).unwrap();
        let second = datafusion::common::ScalarValue::new_interval_mdn(0, 0, 1_000_000_000);
        let expr = SessionContext::new()
            .state()
            .create_physical_expr(col("ts") - lit(second), &schema)
            .unwrap();
        WatermarkOperator::new(expr, "FOR ts AS ts - 1 s".into(), 1, Arc::clone(metrics))
    }

    #[tokio::test]
    async fn the_watermark_only_rises_and_null_times_are_dropped_and_counted() {
        let metrics = Arc::new(StreamMetrics::default());
        let mut op = operator(&metrics);
        let out = op
            .process_batch(events(&[(1, 5_000), (2, 3_000)]))
            .await
            .unwrap();
        assert_eq!((out.batches[0].num_rows(), out.watermark), (2, Some(4_000)));
        let out = op.process_batch(events(&[(1, 4_500)])).await.unwrap();
        assert_eq!(out.watermark, None, "an older row does not lower it");
        let k = datafusion::arrow::array::Int64Array::from(vec![1, 2]);
        let ts = datafusion::arrow::array::TimestampMillisecondArray::from(vec![None, Some(9_000)]);
        let with_null =
            RecordBatch::try_new(events_schema(), vec![Arc::new(k), Arc::new(ts)]).unwrap();
        let out = op.process_batch(with_null).await.unwrap();
        assert_eq!((out.batches[0].num_rows(), out.watermark), (1, Some(8_000)));
        assert_eq!((metrics.malformed(), metrics.watermark()), (1, Some(8_000)));

        let mut restored = operator(&Arc::default());
        restored.restore(op.snapshot().await.unwrap()).unwrap();
        let out = restored.process_batch(events(&[(1, 8_500)])).await.unwrap();
        assert_eq!(out.watermark, None, "the restored watermark holds");
    }
}
