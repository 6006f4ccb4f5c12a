//! The scalar form of PREDICT: `PREDICT('price_model', sqft, rooms)` in a
//! SELECT list, the arguments after the name being the model's features in
//! its feature order. Vectorized: one prediction per row of each batch.
//!
//! The model's newest version is looked up for every batch, so a running
//! streaming query picks up a newly trained version without a restart.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::features::{encode, HandleInvalid};
use super::registry::Registry;
use super::trees::Predictions;
use crate::error::Error;

/// `PREDICT(model, feature, ...)` as a DataFusion scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PredictUdf {
    registry: RegistryHandle,
    signature: Signature,
}

/// The registry, compared by its directory (UDFs must be comparable).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RegistryHandle(std::path::PathBuf);

impl PredictUdf {
    /// The function over the models of `data_dir`.
    pub fn new(data_dir: &std::path::Path) -> Self {
        PredictUdf {
            registry: RegistryHandle(data_dir.to_path_buf()),
            signature: Signature::variadic_any(Volatility::Volatile),
        }
    }
}

impl ScalarUDFImpl for PredictUdf {
    fn name(&self) -> &str {
        "predict"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let usage = || {
            DataFusionError::Plan(
                "PREDICT is written PREDICT('model', feature1, feature2, ...) in the model's \
                 feature order (DESCRIBE MODEL lists it)"
                    .into(),
            )
        };
        let Some(ColumnarValue::Scalar(
            ScalarValue::Utf8(Some(name)) | ScalarValue::Utf8View(Some(name)),
        )) = args.args.first()
        else {
            return Err(usage());
        };
        let model = Registry::new(&self.registry.0).latest(name)?;
        let inputs = &args.args[1..];
        if inputs.len() != model.features.len() {
            return Err(Error::query(format!(
                "PREDICT('{name}', ...) takes {} features ({}), not {}",
                model.features.len(),
                model
                    .features
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                inputs.len()
            ))
            .into());
        }
        let columns: Vec<ArrayRef> = inputs
            .iter()
            .map(|a| a.to_array(args.number_rows))
            .collect::<Result<_>>()?;
        let fields: Vec<Field> = model
            .features
            .iter()
            .zip(&columns)
            .map(|(f, c)| Field::new(&f.name, c.data_type().clone(), true))
            .collect();
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        let encoded = encode(&batch, &model.features, None, HandleInvalid::Keep)?;
        let predictions = match (&model.tree, &model.linear) {
            (Some(tree), _) => match tree.predict(&encoded.x)? {
                Predictions::Values(values) => values,
                Predictions::Classes(_) => {
                    return Err(Error::query(format!(
                        "model '{name}' is a classifier; the scalar PREDICT returns numbers, \
                         so use the table form: SELECT * FROM PREDICT('{name}', TABLE t)"
                    ))
                    .into())
                }
            },
            (None, Some(linear)) => linear.predict(&encoded.x),
            (None, None) => {
                return Err(Error::Data(format!("model '{name}' has no fitted parameters")).into())
            }
        };
        Ok(ColumnarValue::Array(Arc::new(Float64Array::from(
            predictions,
        ))))
    }
}
