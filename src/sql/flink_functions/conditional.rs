//! `IF(condition, then, else)`, Flink's short form of
//! `CASE WHEN condition THEN then ELSE else END`.

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::kernels::zip::zip;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ExprSchema;
use datafusion::error::Result;
use datafusion::logical_expr::expr::Case;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::type_coercion::other::get_coerce_type_for_case_expression;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl,
    Signature, Volatility,
};

use super::{all_scalar, output, plan_error};

const USAGE: &str = "IF takes a condition and two values: IF(price > 100, 'high', 'low')";

/// `IF(condition, then, else)`: `then` where the condition is true, `else`
/// where it is false or NULL, in the common type of the two (as CASE
/// types them). The optimizer turns it into that CASE, so only the branch
/// a row takes is evaluated (`IF(x = 0, 0, 1 / x)` does not divide by 0).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IfUdf {
    signature: Signature,
}

impl Default for IfUdf {
    fn default() -> Self {
        IfUdf {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for IfUdf {
    fn name(&self) -> &str {
        "if"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        // What cannot be coerced is left as it is, for return_field_from_args
        // to name.
        let [condition, then, otherwise] = arg_types else {
            return Ok(arg_types.to_vec());
        };
        let condition = match condition {
            DataType::Null => DataType::Boolean,
            other => other.clone(),
        };
        let common =
            get_coerce_type_for_case_expression(std::slice::from_ref(then), Some(otherwise));
        Ok(match common {
            Some(common) => vec![condition, common.clone(), common],
            None => vec![condition, then.clone(), otherwise.clone()],
        })
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        arg_types.get(1).cloned().ok_or_else(|| plan_error(USAGE))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let [condition, then, otherwise] = args.arg_fields else {
            return Err(plan_error(USAGE));
        };
        if condition.data_type() != &DataType::Boolean {
            return Err(plan_error(format!(
                "IF's condition is a BOOLEAN, not {}: {USAGE}",
                condition.data_type()
            )));
        }
        if then.data_type() != otherwise.data_type() {
            return Err(plan_error(format!(
                "IF's two values have no common type ({} and {})",
                then.data_type(),
                otherwise.data_type()
            )));
        }
        Ok(Arc::new(Field::new(
            self.name(),
            then.data_type().clone(),
            then.is_nullable() || otherwise.is_nullable(),
        )))
    }

    fn is_nullable(&self, args: &[Expr], schema: &dyn ExprSchema) -> bool {
        args.iter()
            .skip(1)
            .any(|a| a.nullable(schema).unwrap_or(true))
    }

    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let Ok([condition, then, otherwise]) = <[Expr; 3]>::try_from(args) else {
            return Err(plan_error(USAGE));
        };
        Ok(ExprSimplifyResult::Simplified(Expr::Case(Case::new(
            None,
            vec![(Box::new(condition), Box::new(then))],
            Some(Box::new(otherwise)),
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Reached only when the plan was not simplified into a CASE; then
        // both branches have been evaluated.
        let scalar = all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let chosen = zip(arrays[0].as_boolean(), &arrays[1], &arrays[2])?;
        output(chosen, scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::flink_functions::invoke;
    use datafusion::arrow::array::{Array, BooleanArray, Int64Array};

    #[test]
    fn if_picks_then_for_true_and_else_for_false_or_null() {
        let args = vec![
            ColumnarValue::Array(Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
            ]))),
            ColumnarValue::Array(Arc::new(Int64Array::from(vec![1, 2, 3]))),
            ColumnarValue::Array(Arc::new(Int64Array::from(vec![10, 20, 30]))),
        ];
        let result = invoke(&IfUdf::default(), args, 3).unwrap();
        let ColumnarValue::Array(result) = result else {
            panic!()
        };
        let result = result.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        assert_eq!(result.values().to_vec(), vec![1, 20, 30]);
        assert_eq!(result.null_count(), 0);
    }

    #[test]
    fn if_types_its_values_as_case_does() {
        let udf = IfUdf::default();
        assert_eq!(
            udf.coerce_types(&[DataType::Boolean, DataType::Int32, DataType::Int64])
                .unwrap(),
            vec![DataType::Boolean, DataType::Int64, DataType::Int64]
        );
        assert_eq!(
            udf.coerce_types(&[DataType::Null, DataType::Utf8, DataType::Null])
                .unwrap(),
            vec![DataType::Boolean, DataType::Utf8, DataType::Utf8]
        );
        // Left for return_field_from_args to refuse.
        assert_eq!(
            udf.coerce_types(&[DataType::Int64, DataType::Int32, DataType::Int32])
                .unwrap(),
            vec![DataType::Int64, DataType::Int32, DataType::Int32]
        );
    }
}
