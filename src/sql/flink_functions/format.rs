//! `DATE_FORMAT` and `UNIX_TIMESTAMP`: Flink's functions that take Java
//! date patterns (`yyyy-MM-dd HH:mm:ss`). Each pattern is translated to
//! strftime ([`super::pattern`]) and handed to DataFusion: `to_char` formats,
//! `to_unixtime` parses. flowsql's TIMESTAMP has no time zone and is read as
//! UTC, so where Flink would use `table.local-time-zone`, these use UTC.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use datafusion::arrow::array::{AsArray, Int64Array, StringArray};
use datafusion::arrow::compute::CastOptions;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion::arrow::util::display::FormatOptions;
use datafusion::common::utils::take_function_args;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::functions::datetime::{to_char, to_unixtime};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::pattern::{to_strftime, Direction};
use super::{call, is_string, output, plan_error};

/// Casts that turn unparsable strings into NULL, as Flink's string forms do.
const SAFE: CastOptions<'static> = CastOptions {
    safe: true,
    format_options: FormatOptions::new(),
};

/// The pattern of `UNIX_TIMESTAMP(string)` without one.
const DEFAULT_PATTERN: &str = "yyyy-MM-dd HH:mm:ss";

/// `value` as a timestamp: dates at midnight, strings parsed (NULL when
/// they are not timestamps), timestamps as they are.
fn timestamp_of(value: &ColumnarValue) -> Result<ColumnarValue> {
    match value.data_type() {
        DataType::Timestamp(..) => Ok(value.clone()),
        DataType::Date32 | DataType::Date64 => {
            value.cast_to(&DataType::Timestamp(TimeUnit::Millisecond, None), None)
        }
        _ => value.cast_to(
            &DataType::Timestamp(TimeUnit::Nanosecond, None),
            Some(&SAFE),
        ),
    }
}

/// A string argument coerced to Utf8; other types left for the function's
/// own message.
fn string_type(data_type: &DataType) -> DataType {
    if is_string(data_type) || data_type.is_null() {
        DataType::Utf8
    } else {
        data_type.clone()
    }
}

/// The literal string argument `i`, if the call has one.
fn literal_string<'a>(args: &ReturnFieldArgs<'a>, i: usize) -> Option<&'a str> {
    match args.scalar_arguments.get(i).copied().flatten()? {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s.as_str()),
        _ => None,
    }
}

/// The strftime form of a Java pattern, or an error naming the function.
fn translate(function: &str, pattern: &str, direction: Direction) -> Result<String> {
    to_strftime(pattern, direction).map_err(|e| plan_error(format!("{function}: {e}")))
}

/// `DATE_FORMAT(timestamp, pattern)`: the timestamp (or date, or string
/// parsed as a timestamp, NULL when it is not one) as text in a Java date
/// pattern such as `'yyyy-MM-dd HH:mm'`, or a strftime pattern (one with
/// `%`). The timestamp is printed as it is, which flowsql reads as UTC.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateFormatUdf {
    signature: Signature,
}

impl Default for DateFormatUdf {
    fn default() -> Self {
        DateFormatUdf {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for DateFormatUdf {
    fn name(&self) -> &str {
        "date_format"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(match arg_types {
            [value, pattern] if is_string(value) => vec![DataType::Utf8, string_type(pattern)],
            [value, pattern] => vec![value.clone(), string_type(pattern)],
            other => other.to_vec(),
        })
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let usage =
            "DATE_FORMAT takes a timestamp and a pattern: DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm')";
        let [value, pattern] = args.arg_fields else {
            return Err(plan_error(usage));
        };
        let formattable = matches!(
            value.data_type(),
            DataType::Timestamp(..)
                | DataType::Date32
                | DataType::Date64
                | DataType::Utf8
                | DataType::Null
        );
        if !formattable || pattern.data_type() != &DataType::Utf8 {
            return Err(plan_error(format!(
                "{usage}; it was given {} and {}",
                value.data_type(),
                pattern.data_type()
            )));
        }
        if let Some(pattern) = literal_string(&args, 1) {
            translate("DATE_FORMAT", pattern, Direction::Format)?;
        }
        Ok(Arc::new(Field::new(self.name(), DataType::Utf8, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let number_rows = args.number_rows;
        let config = Arc::clone(&args.config_options);
        let [value, pattern] = take_function_args("DATE_FORMAT", args.args)?;
        let value = timestamp_of(&value)?;
        let pattern = match pattern {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(p))) => ColumnarValue::Scalar(
                ScalarValue::Utf8(Some(translate("DATE_FORMAT", &p, Direction::Format)?)),
            ),
            ColumnarValue::Scalar(_) => return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None))),
            ColumnarValue::Array(patterns) => {
                let translated = patterns
                    .as_string::<i32>()
                    .iter()
                    .map(|p| {
                        p.map(|p| translate("DATE_FORMAT", p, Direction::Format))
                            .transpose()
                    })
                    .collect::<Result<StringArray>>()?;
                ColumnarValue::Array(Arc::new(translated))
            }
        };
        call(
            &to_char(),
            vec![value, pattern],
            number_rows,
            DataType::Utf8,
            &config,
        )
    }
}

/// `UNIX_TIMESTAMP()`: now, in epoch seconds, read again for every batch
/// (Flink: for every record). `UNIX_TIMESTAMP(string [, pattern])`: the
/// string parsed with a Java pattern (default `yyyy-MM-dd HH:mm:ss`) as UTC,
/// unless the pattern reads an offset (`X`, `Z`), in epoch seconds; as in
/// Flink, a string that does not parse gives -9223372036854775808
/// (Long.MIN_VALUE), and NULL gives NULL. The whole string must match the
/// pattern (Java's parser ignores trailing text), and strings are parsed
/// through nanoseconds, so years before 1677 or after 2262 do not parse.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UnixTimestampUdf {
    signature: Signature,
}

impl Default for UnixTimestampUdf {
    fn default() -> Self {
        UnixTimestampUdf {
            signature: Signature::user_defined(Volatility::Volatile),
        }
    }
}

impl ScalarUDFImpl for UnixTimestampUdf {
    fn name(&self) -> &str {
        "unix_timestamp"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(arg_types.iter().map(string_type).collect())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<&DataType> = args.arg_fields.iter().map(|f| f.data_type()).collect();
        let ok = matches!(
            types.as_slice(),
            [] | [DataType::Utf8]
                | [DataType::Utf8, DataType::Utf8]
                | [DataType::Timestamp(..) | DataType::Date32 | DataType::Date64]
        );
        if !ok {
            return Err(plan_error(
                "UNIX_TIMESTAMP takes nothing (now), or a string and an optional pattern: \
                 UNIX_TIMESTAMP('2024-01-31 12:00:00', 'yyyy-MM-dd HH:mm:ss')",
            ));
        }
        if let Some(pattern) = literal_string(&args, 1) {
            translate("UNIX_TIMESTAMP", pattern, Direction::Parse)?;
        }
        Ok(Arc::new(Field::new(
            self.name(),
            DataType::Int64,
            !types.is_empty(),
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let config = Arc::clone(&args.config_options);
        let unixtime = to_unixtime();
        // `strftime` is already translated.
        let parse = |value: ColumnarValue, strftime: &str| -> Result<ColumnarValue> {
            let strftime = ColumnarValue::Scalar(ScalarValue::Utf8(Some(strftime.to_string())));
            call(
                &unixtime,
                vec![value, strftime],
                rows,
                DataType::Int64,
                &config,
            )
        };
        let parse_all = |value: &ColumnarValue, pattern: &str| -> Result<ColumnarValue> {
            let strftime = translate("UNIX_TIMESTAMP", pattern, Direction::Parse)?;
            // All rows at once; only a batch with a bad string is parsed row
            // by row, to give that row Long.MIN_VALUE.
            parse(value.clone(), &strftime).or_else(|_| {
                let scalar = matches!(value, ColumnarValue::Scalar(_));
                let values = value.to_array(rows)?;
                let seconds: Int64Array = values
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.map(|v| one_unix_timestamp(v, &strftime, &parse)))
                    .collect();
                output(Arc::new(seconds), scalar)
            })
        };
        match args.args.as_slice() {
            [] => {
                let seconds = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                Ok(ColumnarValue::Scalar(ScalarValue::Int64(Some(seconds))))
            }
            [value] if value.data_type() != DataType::Utf8 => call(
                &unixtime,
                vec![value.clone()],
                rows,
                DataType::Int64,
                &config,
            ),
            [value] => parse_all(value, DEFAULT_PATTERN),
            [value, ColumnarValue::Scalar(ScalarValue::Utf8(Some(pattern)))] => {
                parse_all(value, pattern)
            }
            [_, ColumnarValue::Scalar(_)] => Ok(ColumnarValue::Scalar(ScalarValue::Int64(None))),
            [value, ColumnarValue::Array(patterns)] => {
                let values = value.to_array(rows)?;
                let (values, patterns) = (values.as_string::<i32>(), patterns.as_string::<i32>());
                let seconds = values
                    .iter()
                    .zip(patterns.iter())
                    .map(|(v, p)| match (v, p) {
                        (Some(v), Some(p)) => {
                            let strftime = translate("UNIX_TIMESTAMP", p, Direction::Parse)?;
                            Ok(Some(one_unix_timestamp(v, &strftime, &parse)))
                        }
                        _ => Ok(None),
                    })
                    .collect::<Result<Int64Array>>()?;
                Ok(ColumnarValue::Array(Arc::new(seconds)))
            }
            _ => Err(plan_error("UNIX_TIMESTAMP takes at most two arguments")),
        }
    }
}

/// One string's epoch seconds, or Long.MIN_VALUE when it does not parse
/// with `strftime`.
fn one_unix_timestamp(
    value: &str,
    strftime: &str,
    parse: &impl Fn(ColumnarValue, &str) -> Result<ColumnarValue>,
) -> i64 {
    let value = ColumnarValue::Scalar(ScalarValue::Utf8(Some(value.to_string())));
    match parse(value, strftime) {
        Ok(ColumnarValue::Scalar(ScalarValue::Int64(Some(seconds)))) => seconds,
        _ => i64::MIN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::flink_functions::invoke;
    use datafusion::arrow::array::{
        Array, Date32Array, TimestampMillisecondArray, TimestampNanosecondArray,
    };
    use datafusion::arrow::datatypes::Int64Type;

    fn text(s: &str) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(s.to_string())))
    }

    fn scalar_string(value: ColumnarValue) -> Option<String> {
        match value {
            ColumnarValue::Scalar(ScalarValue::Utf8(s)) => s,
            other => panic!("not a string: {other:?}"),
        }
    }

    fn scalar_i64(value: ColumnarValue) -> Option<i64> {
        match value {
            ColumnarValue::Scalar(ScalarValue::Int64(v)) => v,
            other => panic!("not an i64: {other:?}"),
        }
    }

    /// 2024-02-29 13:05:09.042 UTC.
    const LEAP_DAY_NANOS: i64 = 1_709_211_909_042_000_000;

    fn leap_day() -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::TimestampNanosecond(Some(LEAP_DAY_NANOS), None))
    }

    #[test]
    fn date_format_prints_java_patterns() {
        let udf = DateFormatUdf::default();
        for (pattern, expected) in [
            ("yyyy-MM-dd HH:mm", "2024-02-29 13:05"),
            ("yyyy-MM-dd HH:mm:ss.SSS", "2024-02-29 13:05:09.042"),
            ("yy/M/d h:m:s a", "24/2/29 1:5:9 PM"),
            ("EEE, d MMM yyyy", "Thu, 29 Feb 2024"),
            ("EEEE MMMM", "Thursday February"),
            ("D 'of the year', 'Q'Q", "60 of the year, Q1"),
            ("yyyy-MM-dd'T'HH:mm:ssXXX", "2024-02-29T13:05:09Z"),
            ("%Y/%m/%d", "2024/02/29"),
        ] {
            let result = invoke(&udf, vec![leap_day(), text(pattern)], 1).unwrap();
            assert_eq!(
                scalar_string(result).as_deref(),
                Some(expected),
                "{pattern}"
            );
        }
    }

    #[test]
    fn date_format_takes_dates_strings_and_nulls() {
        let udf = DateFormatUdf::default();
        let date = ColumnarValue::Array(Arc::new(Date32Array::from(vec![Some(19782), None])));
        let result = invoke(&udf, vec![date, text("dd.MM.yyyy HH:mm")], 2).unwrap();
        let ColumnarValue::Array(result) = result else {
            panic!()
        };
        let result = result.as_string::<i32>();
        assert_eq!(result.value(0), "29.02.2024 00:00");
        assert!(result.is_null(1));

        let parsed = invoke(&udf, vec![text("2024-02-29 13:05:09"), text("HH:mm")], 1).unwrap();
        assert_eq!(scalar_string(parsed).as_deref(), Some("13:05"));
        let unparsable = invoke(&udf, vec![text("yesterday"), text("HH:mm")], 1).unwrap();
        assert_eq!(scalar_string(unparsable), None);
        let no_pattern = invoke(
            &udf,
            vec![leap_day(), ColumnarValue::Scalar(ScalarValue::Utf8(None))],
            1,
        );
        assert_eq!(scalar_string(no_pattern.unwrap()), None);
    }

    #[test]
    fn date_format_refuses_unknown_letters_and_odd_timestamps() {
        let udf = DateFormatUdf::default();
        let err = invoke(&udf, vec![leap_day(), text("yyyy-MM-dd T")], 1).unwrap_err();
        assert!(err.to_string().contains("'T'"), "{err}");
        // A bad strftime pattern is chrono's error, not a panic.
        assert!(invoke(&udf, vec![leap_day(), text("%Q")], 1).is_err());
        // The largest timestamps chrono cannot place are an error too.
        let huge = ColumnarValue::Array(Arc::new(TimestampMillisecondArray::from(vec![i64::MAX])));
        let _ = invoke(&udf, vec![huge, text("yyyy")], 1);
    }

    #[test]
    fn unix_timestamp_parses_with_java_patterns() {
        let udf = UnixTimestampUdf::default();
        let one = |args| scalar_i64(invoke(&udf, args, 1).unwrap());
        // Flink's examples, in UTC rather than Europe/Berlin.
        assert_eq!(
            one(vec![
                text("1970-01-01 08:00:01.001"),
                text("yyyy-MM-dd HH:mm:ss.SSS")
            ]),
            Some(28801)
        );
        assert_eq!(
            one(vec![
                text("1970-01-01 08:00:01.001 +0800"),
                text("yyyy-MM-dd HH:mm:ss.SSS X")
            ]),
            Some(1)
        );
        assert_eq!(
            one(vec![
                text("1970-01-01 08:00:01.001"),
                text("yyyy-MM-dd HH:mm:ss.SSS X")
            ]),
            Some(i64::MIN)
        );
        assert_eq!(one(vec![text("1970-01-02 00:00:00")]), Some(86400));
        assert_eq!(one(vec![text("not a time")]), Some(i64::MIN));
        assert_eq!(
            one(vec![ColumnarValue::Scalar(ScalarValue::Utf8(None))]),
            None
        );
        let now = one(vec![]).unwrap();
        assert!(now > 1_700_000_000, "{now}");

        // One bad row does not spoil the others.
        let strings = ColumnarValue::Array(Arc::new(StringArray::from(vec![
            Some("1970-01-01 00:01:00"),
            Some("garbage"),
            None,
        ])));
        let ColumnarValue::Array(result) =
            invoke(&udf, vec![strings, text("yyyy-MM-dd HH:mm:ss")], 3).unwrap()
        else {
            panic!()
        };
        let result = result.as_primitive::<Int64Type>();
        assert_eq!((result.value(0), result.value(1)), (60, i64::MIN));
        assert!(result.is_null(2));
        assert!(invoke(&udf, vec![text("x"), text("yyyy T")], 1).is_err());
    }

    #[test]
    fn timestamp_of_leaves_timestamps_alone() {
        let ts = ColumnarValue::Array(Arc::new(TimestampNanosecondArray::from(vec![1])));
        assert_eq!(timestamp_of(&ts).unwrap().data_type(), ts.data_type());
    }
}
