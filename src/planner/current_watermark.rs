//! `CURRENT_WATERMARK(ts)`: Flink's function giving a stream's watermark as
//! it was before the row's batch (NULL before the first watermark, and in
//! a query over a bounded table), typed as `ts` is. Its classic use drops
//! late rows: `WHERE CURRENT_WATERMARK(ts) IS NULL OR ts > CURRENT_WATERMARK(ts)`.
//!
//! The engine registers an unbound instance, so queries plan; the streaming
//! planner binds each call to its pipeline's counters
//! ([`CurrentWatermarkUdf::bound`]).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::metrics::StreamMetrics;

/// The function's name, as SQL calls it.
pub const NAME: &str = "current_watermark";

/// `CURRENT_WATERMARK(ts)`, bound to a running query's counters or not.
#[derive(Debug)]
pub struct CurrentWatermarkUdf {
    signature: Signature,
    metrics: Option<Arc<StreamMetrics>>,
}

impl CurrentWatermarkUdf {
    /// The instance the engine registers: NULL everywhere.
    pub fn unbound() -> Self {
        CurrentWatermarkUdf {
            signature: Signature::any(1, Volatility::Volatile),
            metrics: None,
        }
    }

    /// The instance a streaming query's calls become.
    pub fn bound(metrics: Arc<StreamMetrics>) -> Self {
        CurrentWatermarkUdf {
            metrics: Some(metrics),
            ..Self::unbound()
        }
    }
}

impl PartialEq for CurrentWatermarkUdf {
    fn eq(&self, other: &Self) -> bool {
        match (&self.metrics, &other.metrics) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Eq for CurrentWatermarkUdf {}

impl std::hash::Hash for CurrentWatermarkUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.metrics.as_ref().map(Arc::as_ptr).hash(state);
    }
}

impl ScalarUDFImpl for CurrentWatermarkUdf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [t @ DataType::Timestamp(..)] => Ok(t.clone()),
            _ => Err(DataFusionError::Plan(
                "CURRENT_WATERMARK takes the stream's event-time column: CURRENT_WATERMARK(ts)"
                    .into(),
            )),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let millis = self
            .metrics
            .as_ref()
            .and_then(|m| m.watermark_before_batch());
        let value = match args.return_field.data_type() {
            DataType::Timestamp(unit, zone) => {
                let zone = zone.clone();
                match unit {
                    TimeUnit::Second => {
                        ScalarValue::TimestampSecond(millis.map(|m| m.div_euclid(1000)), zone)
                    }
                    TimeUnit::Millisecond => ScalarValue::TimestampMillisecond(millis, zone),
                    TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(
                        millis.and_then(|m| m.checked_mul(1_000)),
                        zone,
                    ),
                    TimeUnit::Nanosecond => ScalarValue::TimestampNanosecond(
                        millis.and_then(|m| m.checked_mul(1_000_000)),
                        zone,
                    ),
                }
            }
            other => {
                return Err(DataFusionError::Internal(format!(
                    "CURRENT_WATERMARK typed {other}"
                )))
            }
        };
        Ok(ColumnarValue::Scalar(value))
    }
}
