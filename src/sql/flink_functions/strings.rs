//! Flink's string functions DataFusion lacks: `SPLIT_INDEX` and
//! `REGEXP_EXTRACT`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use regex::Regex;

use super::{all_scalar, is_string, output, plan_error};

/// Strings to Utf8 and integers to Int64, so each function reads one type.
fn coerce(arg_types: &[DataType]) -> Vec<DataType> {
    arg_types
        .iter()
        .map(|t| {
            if is_string(t) || t.is_null() {
                DataType::Utf8
            } else if t.is_integer() {
                DataType::Int64
            } else {
                t.clone()
            }
        })
        .collect()
}

const STRING: &[DataType] = &[DataType::Utf8];
const INTEGER: &[DataType] = &[DataType::Int64];
const STRING_OR_INTEGER: &[DataType] = &[DataType::Utf8, DataType::Int64];

/// Whether the (coerced) argument types are among the `expected` ones.
fn types_are(args: &ReturnFieldArgs, expected: &[&[DataType]]) -> bool {
    args.arg_fields.len() == expected.len()
        && args
            .arg_fields
            .iter()
            .zip(expected)
            .all(|(field, allowed)| allowed.contains(field.data_type()))
}

/// `SPLIT_INDEX(string, separator, index)`: the `index`-th (from 0) piece
/// of `string` split at every `separator`, or NULL when there is no such
/// piece, `index` is negative or an argument is NULL. As in Flink
/// (commons-lang's `splitByWholeSeparatorPreserveAllTokens`), empty pieces
/// count (`SPLIT_INDEX('a,,b', ',', 2)` is `'b'`), an empty string has no
/// pieces, and an empty separator splits at whitespace. The separator may
/// also be a character code from 1 to 255 (`SPLIT_INDEX(s, 44, 1)` splits
/// at commas); another code gives NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SplitIndexUdf {
    signature: Signature,
}

impl Default for SplitIndexUdf {
    fn default() -> Self {
        SplitIndexUdf {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The piece `index` of `string` split at `separator`.
fn split_index<'s>(string: &'s str, separator: &str, index: i64) -> Option<&'s str> {
    let index = usize::try_from(index).ok()?;
    if string.is_empty() {
        return None;
    }
    if separator.is_empty() {
        string.split(char::is_whitespace).nth(index)
    } else {
        string.split(separator).nth(index)
    }
}

impl ScalarUDFImpl for SplitIndexUdf {
    fn name(&self) -> &str {
        "split_index"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(coerce(arg_types))
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if !types_are(&args, &[STRING, STRING_OR_INTEGER, INTEGER]) {
            return Err(plan_error(
                "SPLIT_INDEX takes a string, a separator and an index from 0: \
                 SPLIT_INDEX('a,b,c', ',', 1)",
            ));
        }
        Ok(Arc::new(Field::new(self.name(), DataType::Utf8, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let strings = arrays[0].as_string::<i32>();
        let indexes = arrays[2].as_primitive::<Int64Type>();
        // A character code is a one-character separator (NULL outside 1-255).
        let separators: Vec<Option<String>> = match arrays[1].data_type() {
            DataType::Int64 => arrays[1]
                .as_primitive::<Int64Type>()
                .iter()
                .map(|code| {
                    let code = u8::try_from(code?).ok().filter(|c| *c >= 1)?;
                    Some(char::from(code).to_string())
                })
                .collect(),
            _ => arrays[1]
                .as_string::<i32>()
                .iter()
                .map(|s| s.map(str::to_string))
                .collect(),
        };
        let pieces: StringArray = (0..strings.len())
            .map(|i| {
                if strings.is_null(i) || indexes.is_null(i) {
                    return None;
                }
                let separator = separators[i].as_deref()?;
                split_index(strings.value(i), separator, indexes.value(i))
            })
            .collect();
        output(Arc::new(pieces), scalar)
    }
}

/// `REGEXP_EXTRACT(string, regex [, group])`: group `group` (default 0, the
/// whole match; groups count from 1) of the first match of `regex` in
/// `string`, or NULL when nothing matches, the group does not exist or took
/// no part in the match, or an argument is NULL. The regex is Rust's
/// `regex` syntax, which is Java's without look-around and backreferences;
/// a regex that does not compile is an error naming it (Flink logs it and
/// returns NULL).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RegexpExtractUdf {
    signature: Signature,
}

impl Default for RegexpExtractUdf {
    fn default() -> Self {
        RegexpExtractUdf {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

fn compile(regex: &str) -> Result<Regex> {
    Regex::new(regex).map_err(|e| {
        plan_error(format!(
            "REGEXP_EXTRACT: the regex '{regex}' does not compile: {e}"
        ))
    })
}

/// Group `group` of the first match of `regex` in `string`.
fn extract<'s>(regex: &Regex, string: &'s str, group: i64) -> Option<&'s str> {
    let group = usize::try_from(group).ok()?;
    Some(regex.captures(string)?.get(group)?.as_str())
}

impl ScalarUDFImpl for RegexpExtractUdf {
    fn name(&self) -> &str {
        "regexp_extract"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(coerce(arg_types))
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if !types_are(&args, &[STRING, STRING]) && !types_are(&args, &[STRING, STRING, INTEGER]) {
            return Err(plan_error(
                "REGEXP_EXTRACT takes a string, a regex and an optional group: \
                 REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 2)",
            ));
        }
        if let Some(ScalarValue::Utf8(Some(regex))) = args.scalar_arguments[1] {
            compile(regex)?;
        }
        Ok(Arc::new(Field::new(self.name(), DataType::Utf8, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = all_scalar(&args.args);
        let rows = args.number_rows;
        let strings = args.args[0].to_array(rows)?;
        let strings = strings.as_string::<i32>();
        let groups = match args.args.get(2) {
            Some(group) => Some(group.to_array(rows)?),
            None => None,
        };
        let groups = groups.as_ref().map(|g| g.as_primitive::<Int64Type>());
        let group = |i: usize| match groups {
            None => Some(0),
            Some(g) => g.is_valid(i).then(|| g.value(i)),
        };
        let extracted: StringArray = match &args.args[1] {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(regex))) => {
                let regex = compile(regex)?;
                (0..strings.len())
                    .map(|i| {
                        let string = strings.is_valid(i).then(|| strings.value(i))?;
                        extract(&regex, string, group(i)?)
                    })
                    .collect()
            }
            ColumnarValue::Scalar(_) => return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None))),
            ColumnarValue::Array(regexes) => {
                let regexes = regexes.as_string::<i32>();
                // Compiled once per run of equal regexes.
                let mut last: Option<(String, Regex)> = None;
                let mut pieces = Vec::with_capacity(strings.len());
                for i in 0..strings.len() {
                    if strings.is_null(i) || regexes.is_null(i) {
                        pieces.push(None);
                        continue;
                    }
                    let source = regexes.value(i);
                    if last.as_ref().is_none_or(|(s, _)| s != source) {
                        last = Some((source.to_string(), compile(source)?));
                    }
                    let regex = last.as_ref().map(|(_, r)| r);
                    pieces.push(regex.and_then(|r| extract(r, strings.value(i), group(i)?)));
                }
                pieces.into_iter().collect()
            }
        };
        output(Arc::new(extracted), scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_index_counts_from_zero() {
        assert_eq!(split_index("Jack,John,Mary", ",", 2), Some("Mary"));
        assert_eq!(split_index("Jack,John,Mary", ",", 0), Some("Jack"));
        assert_eq!(split_index("Jack,John,Mary", ",", 3), None);
        assert_eq!(split_index("Jack,John,Mary", ",", -1), None);
        assert_eq!(split_index("Jack,John,Mary", ",", i64::MAX), None);
        assert_eq!(split_index("a,,b", ",", 1), Some(""));
        assert_eq!(split_index("a,,b", ",", 2), Some("b"));
        assert_eq!(split_index(",a,", ",", 0), Some(""));
        assert_eq!(split_index(",a,", ",", 2), Some(""));
        assert_eq!(split_index("a::b::c", "::", 1), Some("b"));
        assert_eq!(split_index("abc", ",", 0), Some("abc"));
        assert_eq!(split_index("", ",", 0), None);
        assert_eq!(split_index("a b\tc", "", 2), Some("c"));
        assert_eq!(split_index("é,ü", ",", 1), Some("ü"));
    }

    #[test]
    fn regexp_extract_takes_groups() {
        let regex = compile("foo(.*?)(bar)").unwrap();
        assert_eq!(extract(&regex, "foothebar", 2), Some("bar"));
        assert_eq!(extract(&regex, "foothebar", 1), Some("the"));
        assert_eq!(extract(&regex, "foothebar", 0), Some("foothebar"));
        assert_eq!(extract(&regex, "foothebar", 3), None);
        assert_eq!(extract(&regex, "foothebar", -1), None);
        assert_eq!(extract(&regex, "nothing", 0), None);
        let optional = compile("a(x)?b").unwrap();
        assert_eq!(extract(&optional, "ab", 1), None);
        let err = compile("(unclosed").unwrap_err().to_string();
        assert!(err.contains("'(unclosed'"), "{err}");
    }
}
