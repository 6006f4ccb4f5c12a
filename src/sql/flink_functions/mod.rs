//! Flink SQL functions that DataFusion lacks or spells differently, so Flink
//! queries run as written. [`register`] adds them to a session; [`rewrite()`]
//! turns Flink's syntax forms into calls before planning.
//!
//! | function | where |
//! |---|---|
//! | `MOD(a, b)` (DataFusion writes `a % b`) | [`ModUdf`] |
//! | `DATE_FORMAT(ts \| date \| string, pattern)` with Java patterns (`yyyy-MM-dd HH:mm`) or strftime (`%Y`) | [`mod@format`], [`pattern`] |
//! | `HOUR`, `MINUTE`, `SECOND`, `YEAR`, `QUARTER`, `MONTH`, `WEEK`, `DAYOFMONTH`, `DAYOFWEEK` (1 = Sunday), `DAYOFYEAR` | [`datetime`] |
//! | `TO_TIMESTAMP_LTZ(numeric [, precision])`, `LOCALTIMESTAMP`, `PROCTIME()` | [`datetime`] |
//! | `UNIX_TIMESTAMP([string [, pattern]])` | [`mod@format`], [`pattern`] |
//! | `TIMESTAMPDIFF(unit, t1, t2)`, `TIMESTAMPADD(unit, n, t)` | [`arithmetic`], units by [`rewrite()`] |
//! | `FLOOR(t TO unit)`, `CEIL(t TO unit)` | [`rewrite()`], into `date_trunc` |
//! | `SPLIT_INDEX(string, separator, index)`, `REGEXP_EXTRACT(string, regex [, group])` | [`strings`] |
//! | `JSON_VALUE(json, path)` | [`json`] |
//! | `IF(condition, then, else)` | [`conditional`] |
//! | `LISTAGG(expr [, separator])` | DataFusion's `string_agg`, registered as `listagg`; the default separator by [`rewrite()`] |
//! | `CURRENT_WATERMARK(ts)` | `planner::current_watermark` (it reads the running pipeline) |
//!
//! flowsql's TIMESTAMP has no time zone and is read as UTC: Flink's
//! `TIMESTAMP_LTZ` results are plain TIMESTAMPs in UTC, and functions that
//! depend on Flink's `table.local-time-zone` behave as if it were UTC.
//!
//! # Where flowsql differs from Flink
//!
//! - `DATE_FORMAT`: pattern letters with no strftime form (`S`, `SS`, `k`,
//!   `K`, `G`, `u`, ...) are errors rather than output; `w` and `YYYY` are
//!   ISO 8601 weeks (Java's depend on the locale). A string argument is read
//!   by Arrow's timestamp parser (which also takes `2024-01-31T10:00` and
//!   dates), NULL when it is not a timestamp.
//! - `UNIX_TIMESTAMP(string, pattern)`: the whole string must match the
//!   pattern (Java ignores trailing text), and only years 1677 to 2262 parse.
//! - `LOCALTIMESTAMP` is the query's start time, as `now()` (Flink reads the
//!   clock per record in streaming mode).
//! - `REGEXP_EXTRACT` uses Rust's regex syntax (no look-around or
//!   backreferences), and a regex that does not compile is an error (Flink
//!   returns NULL).
//! - `TIMESTAMPDIFF` beyond INT is an error. `FLOOR`/`CEIL` of a DATE is a
//!   TIMESTAMP; `CEIL` always rounds up past the time of day (Flink's
//!   `CEIL(TIMESTAMP '2024-03-01 10:00:00' TO MONTH)` is 2024-03-01, here it
//!   is 2024-04-01).
//! - `JSON_VALUE` takes simple paths only, and no `RETURNING`, `ON EMPTY` or
//!   `ON ERROR` clause (cast the STRING, wrap it in `COALESCE`).
//! - `LISTAGG`'s separator is a literal (string_agg's rule).
//! - The syntax forms of [`rewrite()`] (`TO unit`, unit keywords, LISTAGG's
//!   default) are rewritten in statements, and in CREATE TABLE's computed
//!   columns and watermarks ([`rewrite::rewrite_expression`]).

pub mod arithmetic;
pub mod conditional;
pub mod datetime;
pub mod format;
pub mod json;
pub mod pattern;
pub mod rewrite;
pub mod strings;

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::numeric::rem;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::config::ConfigOptions;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::functions_aggregate::string_agg::string_agg_udaf;
use datafusion::logical_expr::type_coercion::binary::BinaryTypeCoercer;
use datafusion::logical_expr::{
    ColumnarValue, Operator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

pub use rewrite::rewrite;

/// Registers every function of this module on `ctx` (DataFusion's own
/// `date_format`, an alias of `to_char`, is replaced by Flink's; `to_char`
/// itself stays as it is).
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(ModUdf::default()));
    ctx.register_udf(ScalarUDF::new_from_impl(format::DateFormatUdf::default()));
    for udf in datetime::DatePartUdf::all() {
        ctx.register_udf(ScalarUDF::new_from_impl(udf));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(
        datetime::ToTimestampLtzUdf::default(),
    ));
    ctx.register_udf(ScalarUDF::new_from_impl(format::UnixTimestampUdf::default()));
    ctx.register_udf(ScalarUDF::new_from_impl(
        datetime::LocalTimestampUdf::default(),
    ));
    ctx.register_udf(ScalarUDF::new_from_impl(datetime::ProcTimeUdf::default()));
    ctx.register_udf(ScalarUDF::new_from_impl(
        arithmetic::TimestampDiffUdf::default(),
    ));
    ctx.register_udf(ScalarUDF::new_from_impl(
        arithmetic::TimestampAddUdf::default(),
    ));
    ctx.register_udf(ScalarUDF::new_from_impl(strings::SplitIndexUdf::default()));
    ctx.register_udf(ScalarUDF::new_from_impl(
        strings::RegexpExtractUdf::default(),
    ));
    ctx.register_udf(ScalarUDF::new_from_impl(json::JsonValueUdf::default()));
    ctx.register_udf(ScalarUDF::new_from_impl(conditional::IfUdf::default()));
    // LISTAGG is string_agg; its accumulator is DataFusion's.
    ctx.register_udaf(string_agg_udaf().as_ref().clone().with_aliases(["listagg"]));
}

/// True for the three Arrow string types.
fn is_string(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// True when every argument is a single value, so the result is one too.
fn all_scalar(args: &[ColumnarValue]) -> bool {
    args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)))
}

/// `array` as the function's result: one value when every argument was one.
fn output(array: ArrayRef, scalar: bool) -> Result<ColumnarValue> {
    if scalar {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &array, 0,
        )?))
    } else {
        Ok(ColumnarValue::Array(array))
    }
}

/// Calls one of DataFusion's own scalar functions on evaluated arguments.
fn call(
    udf: &ScalarUDF,
    args: Vec<ColumnarValue>,
    number_rows: usize,
    return_type: DataType,
    config_options: &Arc<ConfigOptions>,
) -> Result<ColumnarValue> {
    let arg_fields = args
        .iter()
        .enumerate()
        .map(|(i, a)| Arc::new(Field::new(format!("arg{i}"), a.data_type(), true)))
        .collect();
    udf.invoke_with_args(ScalarFunctionArgs {
        args,
        arg_fields,
        number_rows,
        return_field: Arc::new(Field::new(udf.name(), return_type, true)),
        config_options: Arc::clone(config_options),
    })
}

/// Calls `udf` on evaluated arguments as DataFusion would, for unit tests.
#[cfg(test)]
fn invoke(udf: &dyn ScalarUDFImpl, args: Vec<ColumnarValue>, rows: usize) -> Result<ColumnarValue> {
    let arg_fields = args
        .iter()
        .enumerate()
        .map(|(i, a)| Arc::new(Field::new(format!("arg{i}"), a.data_type(), true)))
        .collect();
    udf.invoke_with_args(ScalarFunctionArgs {
        args,
        arg_fields,
        number_rows: rows,
        return_field: Arc::new(Field::new(udf.name(), DataType::Null, true)),
        config_options: Arc::new(ConfigOptions::default()),
    })
}

/// A planning error for a function called the wrong way.
fn plan_error(message: impl Into<String>) -> DataFusionError {
    DataFusionError::Plan(message.into())
}

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
        output(result, all_scalar(&args.args))
    }
}
