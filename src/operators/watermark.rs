//! The watermark generator: evaluates the table's `WATERMARK FOR ts AS expr`
//! over every batch and forwards the highest value seen, which only rises.

use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;

use super::{Operator, Output};
use crate::error::Result;
use crate::plan::metrics::StreamMetrics;
use crate::plan::window::event_times;

/// Computes watermarks from each batch; passes the batch on unchanged.
pub struct WatermarkOperator {
    expr: Arc<dyn PhysicalExpr>,
    text: String,
    watermark: Option<i64>,
    metrics: Arc<StreamMetrics>,
}

impl WatermarkOperator {
    /// A generator evaluating `expr` (written as `text`).
    pub fn new(expr: Arc<dyn PhysicalExpr>, text: String, metrics: Arc<StreamMetrics>) -> Self {
        WatermarkOperator {
            expr,
            text,
            watermark: None,
            metrics,
        }
    }
}

#[async_trait::async_trait]
impl Operator for WatermarkOperator {
    fn describe(&self) -> String {
        format!("watermark: {}", self.text)
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        self.metrics.add_rows_in(batch.num_rows());
        let values = self.expr.evaluate(&batch)?.into_array(batch.num_rows())?;
        let times = event_times(&values)?;
        let batch_max = (0..times.len())
            .filter(|&i| times.is_valid(i))
            .map(|i| times.value(i))
            .max();
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
}
