//! Flink's date and time functions other than the pattern ones: the field
//! functions (`HOUR(ts)`, `DAYOFWEEK(date)`, ...), `TO_TIMESTAMP_LTZ` and
//! `LOCALTIMESTAMP`. The field functions are Arrow's `date_part` kernel.
//! flowsql's TIMESTAMP has no time zone and is read as UTC, so where Flink
//! would use `table.local-time-zone`, these use UTC.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use datafusion::arrow::array::{ArrayRef, AsArray, TimestampMillisecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::temporal::{date_part, DatePart};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type, TimeUnit};
use datafusion::common::utils::take_function_args;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::{all_scalar, is_string, output, plan_error};

/// `HOUR(ts)` and the other field functions: one field of a timestamp or
/// date as a BIGINT, NULL for NULL. `DAYOFWEEK` counts from 1 = Sunday and
/// `WEEK` is the ISO 8601 week, as in Flink.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DatePartUdf {
    name: &'static str,
    signature: Signature,
}

impl DatePartUdf {
    /// Flink's field functions, and the Arrow `date_part` each one is.
    const PARTS: [(&'static str, DatePart); 10] = [
        ("hour", DatePart::Hour),
        ("minute", DatePart::Minute),
        ("second", DatePart::Second),
        ("year", DatePart::Year),
        ("quarter", DatePart::Quarter),
        ("month", DatePart::Month),
        ("week", DatePart::Week),
        ("dayofmonth", DatePart::Day),
        ("dayofweek", DatePart::DayOfWeekSunday1),
        ("dayofyear", DatePart::DayOfYear),
    ];

    /// One function per field.
    pub fn all() -> impl Iterator<Item = DatePartUdf> {
        Self::PARTS.into_iter().map(|(name, _)| DatePartUdf {
            name,
            signature: Signature::user_defined(Volatility::Immutable),
        })
    }

    fn part(&self) -> DatePart {
        Self::PARTS
            .iter()
            .find(|(name, _)| *name == self.name)
            .map_or(DatePart::Year, |(_, part)| *part)
    }

    /// Whether the field exists on a TIME value too.
    fn of_time(&self) -> bool {
        matches!(self.name, "hour" | "minute" | "second")
    }
}

impl ScalarUDFImpl for DatePartUdf {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(arg_types
            .iter()
            .map(|t| {
                if is_string(t) || t.is_null() {
                    DataType::Timestamp(TimeUnit::Nanosecond, None)
                } else {
                    t.clone()
                }
            })
            .collect())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let name = self.name.to_ascii_uppercase();
        let ok = match args.arg_fields {
            [field] => match field.data_type() {
                DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => true,
                DataType::Time32(_) | DataType::Time64(_) => self.of_time(),
                _ => false,
            },
            _ => false,
        };
        if !ok {
            let types: Vec<String> = args
                .arg_fields
                .iter()
                .map(|f| f.data_type().to_string())
                .collect();
            return Err(plan_error(format!(
                "{name} takes one {}: {name}(ts); it was given ({})",
                if self.of_time() {
                    "timestamp, date or time"
                } else {
                    "timestamp or date"
                },
                types.join(", ")
            )));
        }
        Ok(Arc::new(Field::new(self.name, DataType::Int64, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = all_scalar(&args.args);
        let [value] = take_function_args(self.name, ColumnarValue::values_to_arrays(&args.args)?)?;
        let field = date_part(value.as_ref(), self.part())?;
        output(cast(&field, &DataType::Int64)?, scalar)
    }
}

/// Flink's TIMESTAMP range, 0000-01-01 to 9999-12-31 23:59:59.999, in
/// epoch milliseconds: TO_TIMESTAMP_LTZ is NULL outside it, as in Flink.
const MIN_EPOCH_MILLIS: i64 = -62_167_219_200_000;
const MAX_EPOCH_MILLIS: i64 = 253_402_300_799_999;

/// `TO_TIMESTAMP_LTZ(numeric, precision)`: epoch seconds (precision 0) or
/// milliseconds (precision 3, the default) as a TIMESTAMP(3). Flink's
/// result is a TIMESTAMP_LTZ shown in the session's time zone; flowsql's is
/// a TIMESTAMP in UTC. NULL outside the years 0000 to 9999, for NULL, NaN
/// and infinities. Fractional seconds are kept to the millisecond for
/// DOUBLE (truncated), dropped for DECIMAL at precision 0, as in Flink.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToTimestampLtzUdf {
    signature: Signature,
}

impl Default for ToTimestampLtzUdf {
    fn default() -> Self {
        ToTimestampLtzUdf {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The precision argument of a TO_TIMESTAMP_LTZ call: 0 or 3.
fn ltz_precision(value: Option<&ScalarValue>) -> Result<i64> {
    let wrong = || {
        plan_error(
            "TO_TIMESTAMP_LTZ's precision is 0 (epoch seconds) or 3 (epoch milliseconds): \
             TO_TIMESTAMP_LTZ(1700000000, 0)",
        )
    };
    let value = match value {
        None => return Ok(3),
        Some(v) => v.cast_to(&DataType::Int64).map_err(|_| wrong())?,
    };
    match value {
        ScalarValue::Int64(Some(p @ (0 | 3))) => Ok(p),
        _ => Err(wrong()),
    }
}

impl ScalarUDFImpl for ToTimestampLtzUdf {
    fn name(&self) -> &str {
        "to_timestamp_ltz"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| match t {
                DataType::UInt64 if i == 0 => DataType::Float64,
                DataType::Float16 | DataType::Float32 => DataType::Float64,
                DataType::Null => DataType::Int64,
                t if t.is_integer() => DataType::Int64,
                t => t.clone(),
            })
            .collect())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Millisecond, None))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let usage = "TO_TIMESTAMP_LTZ takes epoch seconds or milliseconds and a precision: \
                     TO_TIMESTAMP_LTZ(epoch_millis, 3)";
        let numeric = match args.arg_fields {
            [value] | [value, _] => matches!(
                value.data_type(),
                DataType::Int64
                    | DataType::Float64
                    | DataType::Decimal32(..)
                    | DataType::Decimal64(..)
                    | DataType::Decimal128(..)
                    | DataType::Decimal256(..)
            ),
            _ => false,
        };
        if !numeric {
            return Err(plan_error(usage));
        }
        if args.arg_fields.len() == 2 {
            match args.scalar_arguments.get(1).copied().flatten() {
                Some(precision) => {
                    ltz_precision(Some(precision))?;
                }
                None => return Err(plan_error(format!("{usage}; the precision is a constant"))),
            }
        }
        Ok(Arc::new(Field::new(
            self.name(),
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = all_scalar(&args.args);
        let precision = match args.args.get(1) {
            None => 3,
            Some(ColumnarValue::Scalar(p)) => ltz_precision(Some(p))?,
            Some(ColumnarValue::Array(_)) => {
                return Err(plan_error(
                    "TO_TIMESTAMP_LTZ's precision is a constant, 0 or 3",
                ))
            }
        };
        let value = args.args[0].to_array(args.number_rows)?;
        let in_range = |millis: i64| (MIN_EPOCH_MILLIS..=MAX_EPOCH_MILLIS).contains(&millis);
        let from_float = |v: f64| {
            let millis = if precision == 0 { v * 1000.0 } else { v };
            // `as` saturates; the range check turns huge values into NULL.
            (millis.is_finite() && in_range(millis.trunc() as i64)).then(|| millis.trunc() as i64)
        };
        let result: TimestampMillisecondArray = match value.data_type() {
            DataType::Int64 => value
                .as_primitive::<Int64Type>()
                .iter()
                .map(|v| {
                    let millis = if precision == 0 {
                        v?.checked_mul(1000)?
                    } else {
                        v?
                    };
                    in_range(millis).then_some(millis)
                })
                .collect(),
            DataType::Float64 => value
                .as_primitive::<Float64Type>()
                .iter()
                .map(|v| from_float(v?))
                .collect(),
            _ => {
                // Decimals: Flink drops the fraction of epoch seconds.
                let floats = cast(&value, &DataType::Float64)?;
                floats
                    .as_primitive::<Float64Type>()
                    .iter()
                    .map(|v| {
                        let v = v?;
                        from_float(if precision == 0 { v.trunc() } else { v })
                    })
                    .collect()
            }
        };
        output(Arc::new(result) as ArrayRef, scalar)
    }
}

/// `LOCALTIMESTAMP`: the current time as a TIMESTAMP(3) without time zone,
/// in UTC (flowsql's TIMESTAMP is UTC; Flink's is the session's local time).
/// Like `now()`, it is the time the query started, the same for every row.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LocalTimestampUdf {
    signature: Signature,
}

impl Default for LocalTimestampUdf {
    fn default() -> Self {
        LocalTimestampUdf {
            signature: Signature::nullary(Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for LocalTimestampUdf {
    fn name(&self) -> &str {
        "localtimestamp"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Millisecond, None))
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            self.name(),
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        )))
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let Some(start) = info.query_execution_start_time() else {
            return Ok(ExprSimplifyResult::Original(args));
        };
        Ok(ExprSimplifyResult::Simplified(Expr::Literal(
            ScalarValue::TimestampMillisecond(Some(start.timestamp_millis()), None),
            None,
        )))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Reached only when the plan was not simplified.
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Ok(ColumnarValue::Scalar(ScalarValue::TimestampMillisecond(
            Some(millis),
            None,
        )))
    }
}

/// `PROCTIME()`: the processing time, the wall clock (UTC) when the row's
/// batch is computed, as a TIMESTAMP(3). Volatile, so it is read per batch,
/// never folded into the plan as `now()` is. A column computed by it
/// (`p AS PROCTIME()`, or `SELECT *, PROCTIME() AS p`) is what a lookup
/// join's `FOR SYSTEM_TIME AS OF p` names.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ProcTimeUdf {
    signature: Signature,
}

impl Default for ProcTimeUdf {
    fn default() -> Self {
        ProcTimeUdf {
            signature: Signature::nullary(Volatility::Volatile),
        }
    }
}

impl ScalarUDFImpl for ProcTimeUdf {
    fn name(&self) -> &str {
        "proctime"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Millisecond, None))
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            self.name(),
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        )))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Ok(ColumnarValue::Scalar(ScalarValue::TimestampMillisecond(
            Some(millis),
            None,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::flink_functions::invoke;
    use datafusion::arrow::array::{Array, Int64Array};

    fn scalar_i64(value: ColumnarValue) -> Option<i64> {
        match value {
            ColumnarValue::Scalar(ScalarValue::Int64(v)) => v,
            other => panic!("not an i64: {other:?}"),
        }
    }

    #[test]
    fn field_functions_follow_flink() {
        // Flink's examples use 1994-09-27 13:14:15, a Tuesday.
        let ts = ColumnarValue::Scalar(ScalarValue::TimestampNanosecond(
            Some(780_671_655_000_000_000),
            None,
        ));
        let expected = [
            ("hour", 13),
            ("minute", 14),
            ("second", 15),
            ("year", 1994),
            ("quarter", 3),
            ("month", 9),
            ("week", 39),
            ("dayofmonth", 27),
            ("dayofweek", 3),
            ("dayofyear", 270),
        ];
        for udf in DatePartUdf::all() {
            let want = expected.iter().find(|(n, _)| *n == udf.name).unwrap().1;
            let got = scalar_i64(invoke(&udf, vec![ts.clone()], 1).unwrap());
            assert_eq!(got, Some(want), "{}", udf.name);
        }
        let null = ColumnarValue::Scalar(ScalarValue::TimestampNanosecond(None, None));
        let hour = DatePartUdf::all().next().unwrap();
        assert_eq!(scalar_i64(invoke(&hour, vec![null], 1).unwrap()), None);
    }

    #[test]
    fn to_timestamp_ltz_reads_seconds_and_millis() {
        let udf = ToTimestampLtzUdf::default();
        let values = ColumnarValue::Array(Arc::new(Int64Array::from(vec![
            Some(4001),
            None,
            Some(i64::MAX),
            Some(MAX_EPOCH_MILLIS / 1000),
        ])));
        let precision = |p| ColumnarValue::Scalar(ScalarValue::Int32(Some(p)));
        let ColumnarValue::Array(millis) =
            invoke(&udf, vec![values.clone(), precision(3)], 4).unwrap()
        else {
            panic!()
        };
        let millis =
            millis.as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>();
        assert_eq!(millis.value(0), 4001);
        assert!(millis.is_null(1) && millis.is_null(2));
        let ColumnarValue::Array(seconds) = invoke(&udf, vec![values, precision(0)], 4).unwrap()
        else {
            panic!()
        };
        let seconds =
            seconds.as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>();
        assert_eq!(seconds.value(0), 4_001_000);
        assert!(seconds.is_null(2), "i64::MAX seconds overflow into NULL");
        assert_eq!(seconds.value(3), MAX_EPOCH_MILLIS / 1000 * 1000);

        let floats = ColumnarValue::Array(Arc::new(datafusion::arrow::array::Float64Array::from(
            vec![1.5, f64::NAN, f64::INFINITY, 1e300],
        )));
        let ColumnarValue::Array(result) = invoke(&udf, vec![floats, precision(0)], 4).unwrap()
        else {
            panic!()
        };
        let result =
            result.as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>();
        assert_eq!(result.value(0), 1500);
        assert!(result.is_null(1) && result.is_null(2) && result.is_null(3));
        assert!(invoke(
            &udf,
            vec![
                ColumnarValue::Scalar(ScalarValue::Int64(Some(1))),
                precision(6)
            ],
            1
        )
        .is_err());
    }
}
