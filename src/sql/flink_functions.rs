//! Flink SQL scalar functions that DataFusion spells differently, so Flink
//! queries run as written: `MOD(a, b)` (DataFusion writes `a % b`).

use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::numeric::rem;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::type_coercion::binary::BinaryTypeCoercer;
use datafusion::logical_expr::{
    ColumnarValue, Operator, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// `MOD(a, b)`: the remainder of `a / b`, typed as `a % b` is.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ModUdf {
    signature: Signature,
}

impl Default for ModUdf {
    fn default() -> Self {
        ModUdf {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ModUdf {
    fn name(&self) -> &str {
        "mod"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let [left, right] = arg_types else {
            return Err(DataFusionError::Plan(
                "MOD takes two numbers: MOD(a, b)".into(),
            ));
        };
        BinaryTypeCoercer::new(left, &Operator::Modulo, right).get_result_type()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let result_type = args.return_field.data_type().clone();
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let left = cast(&arrays[0], &result_type)?;
        let right = cast(&arrays[1], &result_type)?;
        let result = rem(&left, &right)?;
        if args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)))
        {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &result, 0,
            )?));
        }
        Ok(ColumnarValue::Array(result))
    }
}
