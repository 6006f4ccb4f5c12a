//! `TIMESTAMPDIFF(unit, t1, t2)` and `TIMESTAMPADD(unit, n, t)`, in Flink's
//! units. Flink writes the unit as a keyword (`TIMESTAMPDIFF(DAY, a, b)`);
//! [`super::rewrite()`] turns it into the string the functions here take.
//!
//! TIMESTAMPDIFF counts whole units from t1 to t2 (negative when t2 is
//! earlier), as Flink (Calcite) does: seconds to weeks by the elapsed time,
//! months, quarters and years by the calendar (from Jan 31 to Feb 29 is one
//! month; from Jan 31 10:00 to Feb 28 09:00 is none). TIMESTAMPADD adds
//! through Arrow's interval arithmetic, with the day clamped to the end of
//! the month (Jan 31 plus one month is Feb 29 or 28). flowsql's timestamps
//! are UTC, so a day is always 24 hours.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, IntervalMonthDayNanoArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::numeric::add;
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Date64Type, Field, FieldRef, Int64Type,
    IntervalMonthDayNano, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::{all_scalar, is_string, output, plan_error};

/// A unit of TIMESTAMPDIFF and TIMESTAMPADD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// `SECOND`
    Second,
    /// `MINUTE`
    Minute,
    /// `HOUR`
    Hour,
    /// `DAY`
    Day,
    /// `WEEK`: seven days.
    Week,
    /// `MONTH`
    Month,
    /// `QUARTER`: three months.
    Quarter,
    /// `YEAR`: twelve months.
    Year,
}

/// The units as a message lists them.
pub const UNITS: &str = "SECOND, MINUTE, HOUR, DAY, WEEK, MONTH, QUARTER or YEAR";

const MICROS_PER_DAY: i64 = 86_400_000_000;

impl Unit {
    /// The unit `name` spells, in any case, also with Calcite's `SQL_TSI_`
    /// prefix (`SQL_TSI_DAY`).
    pub fn parse(name: &str) -> Option<Unit> {
        let name = name.to_ascii_uppercase();
        let name = name.strip_prefix("SQL_TSI_").unwrap_or(&name);
        Some(match name {
            "SECOND" => Unit::Second,
            "MINUTE" => Unit::Minute,
            "HOUR" => Unit::Hour,
            "DAY" => Unit::Day,
            "WEEK" => Unit::Week,
            "MONTH" => Unit::Month,
            "QUARTER" => Unit::Quarter,
            "YEAR" => Unit::Year,
            _ => return None,
        })
    }

    /// The unit's keyword: `DAY`.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Second => "SECOND",
            Unit::Minute => "MINUTE",
            Unit::Hour => "HOUR",
            Unit::Day => "DAY",
            Unit::Week => "WEEK",
            Unit::Month => "MONTH",
            Unit::Quarter => "QUARTER",
            Unit::Year => "YEAR",
        }
    }

    /// Microseconds in one unit, or the months in one for calendar units.
    fn size(self) -> Size {
        match self {
            Unit::Second => Size::Micros(1_000_000),
            Unit::Minute => Size::Micros(60_000_000),
            Unit::Hour => Size::Micros(3_600_000_000),
            Unit::Day => Size::Micros(MICROS_PER_DAY),
            Unit::Week => Size::Micros(7 * MICROS_PER_DAY),
            Unit::Month => Size::Months(1),
            Unit::Quarter => Size::Months(3),
            Unit::Year => Size::Months(12),
        }
    }

    /// True for units shorter than a day, which a DATE cannot hold.
    fn within_day(self) -> bool {
        matches!(self, Unit::Second | Unit::Minute | Unit::Hour)
    }
}

/// How long a unit is.
enum Size {
    Micros(i64),
    Months(i64),
}

/// The unit argument of a call: a literal string naming a unit.
fn unit_argument(function: &str, value: Option<&ScalarValue>) -> Result<Unit> {
    let name = match value {
        Some(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
        ) => s,
        _ => {
            return Err(plan_error(format!(
                "{function}'s first argument is a unit, {UNITS}: {function}(DAY, ...)"
            )))
        }
    };
    Unit::parse(name).ok_or_else(|| {
        plan_error(format!(
            "{function}: '{name}' is not a unit; write one of {UNITS}"
        ))
    })
}

/// The unit of an evaluated call.
fn evaluated_unit(function: &str, value: &ColumnarValue) -> Result<Unit> {
    match value {
        ColumnarValue::Scalar(s) => unit_argument(function, Some(s)),
        ColumnarValue::Array(_) => unit_argument(function, None),
    }
}

/// A time point argument: timestamps and dates as they are, strings parsed
/// as timestamps.
fn time_point_type(data_type: &DataType) -> DataType {
    if is_string(data_type) || data_type.is_null() {
        DataType::Timestamp(TimeUnit::Nanosecond, None)
    } else {
        data_type.clone()
    }
}

fn is_time_point(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    )
}

/// Epoch microseconds of each time point; NULL for NULL and for values
/// whose microseconds overflow.
fn micros(array: &ArrayRef) -> Result<Vec<Option<i64>>> {
    fn scaled<T: ArrowPrimitiveType<Native = N>, N: Into<i64> + Copy>(
        array: &ArrayRef,
        per_micro: i64,
        micros_per: i64,
    ) -> Vec<Option<i64>> {
        array
            .as_primitive::<T>()
            .iter()
            .map(|v| {
                let v: i64 = v?.into();
                if per_micro > 1 {
                    Some(v.div_euclid(per_micro))
                } else {
                    v.checked_mul(micros_per)
                }
            })
            .collect()
    }
    Ok(match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            scaled::<TimestampSecondType, _>(array, 1, 1_000_000)
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            scaled::<TimestampMillisecondType, _>(array, 1, 1_000)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            scaled::<TimestampMicrosecondType, _>(array, 1, 1)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            scaled::<TimestampNanosecondType, _>(array, 1_000, 1)
        }
        DataType::Date32 => scaled::<Date32Type, _>(array, 1, MICROS_PER_DAY),
        DataType::Date64 => scaled::<Date64Type, _>(array, 1, 1_000),
        other => {
            return Err(plan_error(format!(
                "TIMESTAMPDIFF takes timestamps or dates, not {other}"
            )))
        }
    })
}

/// Year, month (1-12) and day (1-31) of a day counted from 1970-01-01
/// (Howard Hinnant's civil_from_days).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn last_day(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Whole months from `from` to `to` (epoch microseconds): the most months
/// that, added to `from` with the day clamped to the month's end, do not
/// pass `to`; negative when `to` is earlier.
fn months_between(from: i64, to: i64) -> i64 {
    if to < from {
        return -months_between(to, from);
    }
    let (from_day, from_time) = (
        from.div_euclid(MICROS_PER_DAY),
        from.rem_euclid(MICROS_PER_DAY),
    );
    let (to_day, to_time) = (to.div_euclid(MICROS_PER_DAY), to.rem_euclid(MICROS_PER_DAY));
    let (y1, m1, d1) = civil_from_days(from_day);
    let (y2, m2, d2) = civil_from_days(to_day);
    let months = (y2 * 12 + m2) - (y1 * 12 + m1);
    // `from` plus `months` lands in `to`'s month, on this day.
    let landed = d1.min(last_day(y2, m2));
    if (landed, from_time) > (d2, to_time) {
        months - 1
    } else {
        months
    }
}

/// `TIMESTAMPDIFF(unit, t1, t2)`: the whole units from t1 to t2 as an INT;
/// NULL when either is NULL. A count beyond INT is an error.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TimestampDiffUdf {
    signature: Signature,
}

impl Default for TimestampDiffUdf {
    fn default() -> Self {
        TimestampDiffUdf {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for TimestampDiffUdf {
    fn name(&self) -> &str {
        "timestampdiff"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if i == 0 {
                    t.clone()
                } else {
                    time_point_type(t)
                }
            })
            .collect())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let [_, t1, t2] = args.arg_fields else {
            return Err(plan_error(
                "TIMESTAMPDIFF takes a unit and two timestamps: TIMESTAMPDIFF(DAY, t1, t2)",
            ));
        };
        unit_argument("TIMESTAMPDIFF", args.scalar_arguments[0])?;
        if !is_time_point(t1.data_type()) || !is_time_point(t2.data_type()) {
            return Err(plan_error(format!(
                "TIMESTAMPDIFF takes two timestamps or dates, not {} and {}",
                t1.data_type(),
                t2.data_type()
            )));
        }
        Ok(Arc::new(Field::new(self.name(), DataType::Int32, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let unit = evaluated_unit("TIMESTAMPDIFF", &args.args[0])?;
        let scalar = all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (from, to) = (micros(&arrays[1])?, micros(&arrays[2])?);
        let counts = from
            .into_iter()
            .zip(to)
            .map(|(from, to)| {
                let (Some(from), Some(to)) = (from, to) else {
                    return Ok(None);
                };
                let count = match unit.size() {
                    Size::Micros(size) => (i128::from(to) - i128::from(from)) / i128::from(size),
                    Size::Months(size) => i128::from(months_between(from, to) / size),
                };
                i32::try_from(count).map(Some).map_err(|_| {
                    plan_error(format!(
                        "TIMESTAMPDIFF: {count} times {} does not fit in an INT; \
                         use a larger unit",
                        unit.name()
                    ))
                })
            })
            .collect::<Result<Int32Array>>()?;
        output(Arc::new(counts), scalar)
    }
}

/// `TIMESTAMPADD(unit, n, t)`: `t` plus `n` units, of `t`'s type (a DATE
/// stays a DATE, except with SECOND, MINUTE or HOUR, which make it a
/// TIMESTAMP); NULL when `n` or `t` is NULL. A result outside the
/// representable range is an error.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TimestampAddUdf {
    signature: Signature,
}

impl Default for TimestampAddUdf {
    fn default() -> Self {
        TimestampAddUdf {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The type TIMESTAMPADD returns for `unit` added to a `time_point`.
fn added_type(unit: Unit, time_point: &DataType) -> DataType {
    match time_point {
        DataType::Date32 | DataType::Date64 if unit.within_day() => {
            DataType::Timestamp(TimeUnit::Second, None)
        }
        other => other.clone(),
    }
}

/// `n` units as an interval; None when it overflows the interval's fields.
fn interval(unit: Unit, n: i64) -> Option<IntervalMonthDayNano> {
    let months = |per: i64| {
        Some(IntervalMonthDayNano::new(
            i32::try_from(n.checked_mul(per)?).ok()?,
            0,
            0,
        ))
    };
    let days = |per: i64| {
        Some(IntervalMonthDayNano::new(
            0,
            i32::try_from(n.checked_mul(per)?).ok()?,
            0,
        ))
    };
    let nanos = |per: i64| Some(IntervalMonthDayNano::new(0, 0, n.checked_mul(per)?));
    match unit {
        Unit::Second => nanos(1_000_000_000),
        Unit::Minute => nanos(60_000_000_000),
        Unit::Hour => nanos(3_600_000_000_000),
        Unit::Day => days(1),
        Unit::Week => days(7),
        Unit::Month => months(1),
        Unit::Quarter => months(3),
        Unit::Year => months(12),
    }
}

impl ScalarUDFImpl for TimestampAddUdf {
    fn name(&self) -> &str {
        "timestampadd"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| match i {
                0 => t.clone(),
                1 if t.is_integer() || t.is_null() => DataType::Int64,
                1 => t.clone(),
                _ => time_point_type(t),
            })
            .collect())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types.get(2).cloned().unwrap_or(DataType::Null))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let [_, n, t] = args.arg_fields else {
            return Err(plan_error(
                "TIMESTAMPADD takes a unit, a count and a timestamp: TIMESTAMPADD(DAY, 1, t)",
            ));
        };
        let unit = unit_argument("TIMESTAMPADD", args.scalar_arguments[0])?;
        if n.data_type() != &DataType::Int64 {
            return Err(plan_error(format!(
                "TIMESTAMPADD adds a whole number of units, not {}",
                n.data_type()
            )));
        }
        if !is_time_point(t.data_type()) {
            return Err(plan_error(format!(
                "TIMESTAMPADD adds to a timestamp or date, not {}",
                t.data_type()
            )));
        }
        Ok(Arc::new(Field::new(
            self.name(),
            added_type(unit, t.data_type()),
            true,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let unit = evaluated_unit("TIMESTAMPADD", &args.args[0])?;
        let scalar = all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let intervals = arrays[1]
            .as_primitive::<Int64Type>()
            .iter()
            .map(|n| {
                let Some(n) = n else { return Ok(None) };
                interval(unit, n).map(Some).ok_or_else(|| {
                    plan_error(format!(
                        "TIMESTAMPADD({}, {n}, ...) is out of range",
                        unit.name()
                    ))
                })
            })
            .collect::<Result<IntervalMonthDayNanoArray>>()?;
        let target = added_type(unit, arrays[2].data_type());
        let time_points = if &target == arrays[2].data_type() {
            Arc::clone(&arrays[2])
        } else {
            cast(&arrays[2], &target)?
        };
        let sum = add(&time_points, &intervals).map_err(|e| {
            plan_error(format!(
                "TIMESTAMPADD({}, ...): the result is out of range ({e})",
                unit.name()
            ))
        })?;
        output(sum, scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::flink_functions::invoke;
    use datafusion::arrow::array::{Date32Array, TimestampMillisecondArray};

    /// Epoch microseconds of a UTC date and time.
    fn at(year: i64, month: i64, day: i64, hour: i64, minute: i64) -> i64 {
        // Days from civil (the inverse of civil_from_days), for the tests.
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * MICROS_PER_DAY + (hour * 60 + minute) * 60_000_000
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-719_468, -1, 0, 1, 59, 60, 11_016, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(at(y, m, d, 0, 0) / MICROS_PER_DAY, days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn months_count_whole_calendar_months() {
        let cases = [
            (at(2024, 1, 31, 0, 0), at(2024, 2, 29, 0, 0), 1),
            (at(2024, 1, 31, 10, 0), at(2024, 2, 29, 9, 0), 0),
            (at(2024, 1, 15, 0, 0), at(2024, 3, 14, 23, 59), 1),
            (at(2024, 1, 15, 0, 0), at(2024, 3, 15, 0, 0), 2),
            (at(2019, 6, 1, 7, 1), at(2020, 6, 1, 7, 1), 12),
            (at(2020, 6, 1, 7, 1), at(2019, 6, 1, 7, 1), -12),
            (at(2024, 3, 31, 0, 0), at(2024, 3, 1, 0, 0), 0),
            (at(1969, 12, 31, 23, 59), at(1970, 1, 31, 23, 59), 1),
        ];
        for (from, to, months) in cases {
            assert_eq!(months_between(from, to), months, "{from} -> {to}");
        }
    }

    fn unit(name: &str) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(name.to_string())))
    }

    fn millis(values: Vec<Option<i64>>) -> ColumnarValue {
        ColumnarValue::Array(Arc::new(TimestampMillisecondArray::from(values)))
    }

    #[test]
    fn timestampdiff_counts_units_from_t1_to_t2() {
        let udf = TimestampDiffUdf::default();
        let t1 = millis(vec![Some(at(2019, 6, 1, 7, 1) / 1000), None, Some(0)]);
        let t2 = millis(vec![Some(at(2020, 6, 1, 7, 1) / 1000), Some(0), Some(-1)]);
        // The figures quoted in FLINK-6813 (2019-06-01 07:01:11 to
        // 2020-06-01 07:01:11), but whole weeks: 366 days are 52 weeks,
        // where MSSQL's DATEDIFF counts 53 week boundaries.
        for (name, expected) in [
            ("YEAR", 1),
            ("QUARTER", 4),
            ("MONTH", 12),
            ("WEEK", 52),
            ("DAY", 366),
            ("HOUR", 8784),
            ("MINUTE", 527_040),
            ("SECOND", 31_622_400),
            ("sql_tsi_day", 366),
        ] {
            let ColumnarValue::Array(result) =
                invoke(&udf, vec![unit(name), t1.clone(), t2.clone()], 3).unwrap()
            else {
                panic!()
            };
            let result = result.as_primitive::<datafusion::arrow::datatypes::Int32Type>();
            assert_eq!(result.value(0), expected, "{name}");
            assert!(result.is_null(1));
            assert_eq!(result.value(2), 0, "{name}: -1 ms is no whole unit");
        }
        let far = millis(vec![Some(i64::MAX / 1000)]);
        let err = invoke(&udf, vec![unit("SECOND"), millis(vec![Some(0)]), far], 1).unwrap_err();
        assert!(err.to_string().contains("does not fit in an INT"), "{err}");
        assert!(invoke(&udf, vec![unit("FORTNIGHT"), t1.clone(), t2.clone()], 3).is_err());
    }

    #[test]
    fn timestampadd_adds_calendar_units() {
        let udf = TimestampAddUdf::default();
        let n = |v: i64| ColumnarValue::Scalar(ScalarValue::Int64(Some(v)));
        // Flink: TIMESTAMPADD(WEEK, 1, DATE '2003-01-02') is 2003-01-09.
        let date = ColumnarValue::Scalar(ScalarValue::Date32(Some(12_054)));
        let ColumnarValue::Scalar(ScalarValue::Date32(Some(week_later))) =
            invoke(&udf, vec![unit("WEEK"), n(1), date.clone()], 1).unwrap()
        else {
            panic!()
        };
        assert_eq!(civil_from_days(i64::from(week_later)), (2003, 1, 9));
        let ColumnarValue::Scalar(ScalarValue::TimestampSecond(Some(hour_later), None)) =
            invoke(&udf, vec![unit("HOUR"), n(1), date], 1).unwrap()
        else {
            panic!()
        };
        assert_eq!(hour_later, 12_054 * 86_400 + 3600);

        let jan31 = millis(vec![Some(at(2024, 1, 31, 12, 0) / 1000), None]);
        let ColumnarValue::Array(result) =
            invoke(&udf, vec![unit("MONTH"), n(1), jan31], 2).unwrap()
        else {
            panic!()
        };
        let result = result.as_primitive::<TimestampMillisecondType>();
        assert_eq!(result.value(0), at(2024, 2, 29, 12, 0) / 1000);
        assert!(result.is_null(1));

        let dates = ColumnarValue::Array(Arc::new(Date32Array::from(vec![Some(0)])));
        assert!(invoke(&udf, vec![unit("YEAR"), n(i64::MAX), dates.clone()], 1).is_err());
        assert!(invoke(&udf, vec![unit("DAY"), n(3_000_000_000), dates.clone()], 1).is_err());
        assert!(invoke(&udf, vec![unit("YEAR"), n(200_000_000), dates], 1).is_err());
    }
}
