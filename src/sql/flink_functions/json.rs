//! `JSON_VALUE(json, path)`: a scalar out of a JSON string, with Flink's
//! default behaviour (`NULL ON EMPTY`, `NULL ON ERROR`).
//!
//! Paths are the simple ones: `$`, `$.a.b`, `$.a[0]`, `$.a[-1]` (the last
//! element), `$['a b']`, `$.["a.b"]`, optionally after `lax` or `strict`
//! (which give the same NULLs under the default behaviour). Wildcards,
//! filters and `..` are refused with an error naming the path, as is
//! Flink's `RETURNING` clause (cast the STRING result instead).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use serde_json::Value;

use super::{all_scalar, is_string, output, plan_error};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A member of an object.
    Key(String),
    /// An element of an array; negative counts from the end.
    Index(i64),
}

/// The steps of `path`, or what is wrong with it.
fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let wrong = |why: &str| -> String {
        format!(
            "JSON_VALUE: the path '{path}' {why}; write paths like '$.a.b', '$.a[0]' or \"$['a b']\""
        )
    };
    let mut rest = path.trim();
    for mode in ["lax ", "strict "] {
        if rest
            .get(..mode.len())
            .is_some_and(|m| m.eq_ignore_ascii_case(mode))
        {
            rest = rest[mode.len()..].trim_start();
        }
    }
    let mut rest = rest
        .strip_prefix('$')
        .ok_or_else(|| wrong("does not start with $"))?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            if let Some(bracket) = after.strip_prefix('[') {
                rest = bracket_step(bracket, &mut steps).map_err(wrong)?;
                continue;
            }
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..end];
            if name.is_empty() || name == "*" || name.contains(char::is_whitespace) {
                return Err(wrong(if name == "*" || after.starts_with('.') {
                    "uses wildcards or '..', which flowsql does not support"
                } else {
                    "has an empty or spaced member name"
                }));
            }
            steps.push(Step::Key(name.to_string()));
            rest = &after[end..];
        } else if let Some(bracket) = rest.strip_prefix('[') {
            rest = bracket_step(bracket, &mut steps).map_err(wrong)?;
        } else {
            return Err(wrong("has text flowsql cannot read"));
        }
    }
    Ok(steps)
}

/// Reads `'name']`, `"name"]` or `index]` after a `[`; the rest of the
/// path, or what is wrong.
fn bracket_step<'p>(text: &'p str, steps: &mut Vec<Step>) -> Result<&'p str, &'static str> {
    const BAD: &str = "has a [...] that is not an index or a quoted name";
    let text = text.trim_start();
    match text.chars().next() {
        Some('*') => return Err("uses wildcards or '..', which flowsql does not support"),
        Some('?') => return Err("uses filters, which flowsql does not support"),
        Some(quote @ ('\'' | '"')) => {
            let inner = &text[1..];
            let end = inner.find(quote).ok_or(BAD)?;
            steps.push(Step::Key(inner[..end].to_string()));
            return inner[end + 1..].trim_start().strip_prefix(']').ok_or(BAD);
        }
        _ => {}
    }
    let end = text.find(']').ok_or(BAD)?;
    steps.push(Step::Index(text[..end].trim().parse().map_err(|_| BAD)?));
    Ok(&text[end + 1..])
}

/// The scalar at `steps` in `json` as text; None when `json` is not JSON,
/// the path leads nowhere, or to null, an object or an array.
fn json_value(json: &str, steps: &[Step]) -> Option<String> {
    let document: Value = serde_json::from_str(json).ok()?;
    let mut value = &document;
    for step in steps {
        value = match (step, value) {
            (Step::Key(key), Value::Object(members)) => members.get(key)?,
            (Step::Index(i), Value::Array(elements)) => {
                let i = if *i < 0 {
                    elements
                        .len()
                        .checked_sub(usize::try_from(i.unsigned_abs()).ok()?)?
                } else {
                    usize::try_from(*i).ok()?
                };
                elements.get(i)?
            }
            _ => return None,
        };
    }
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Object(_) | Value::Array(_) => None,
    }
}

/// `JSON_VALUE(json, path)`: the scalar at `path` in the JSON string
/// `json`, as a STRING (`'true'`, `'1.5'`, or the string itself); NULL when
/// the path finds nothing, finds null, an object or an array, or `json` is
/// not JSON (Flink's defaults, NULL ON EMPTY and NULL ON ERROR).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct JsonValueUdf {
    signature: Signature,
}

impl Default for JsonValueUdf {
    fn default() -> Self {
        JsonValueUdf {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for JsonValueUdf {
    fn name(&self) -> &str {
        "json_value"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(arg_types
            .iter()
            .map(|t| {
                if is_string(t) || t.is_null() {
                    DataType::Utf8
                } else {
                    t.clone()
                }
            })
            .collect())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let strings = args.arg_fields.len() == 2
            && args
                .arg_fields
                .iter()
                .all(|f| f.data_type() == &DataType::Utf8);
        if !strings {
            return Err(plan_error(
                "JSON_VALUE takes a JSON string and a path: JSON_VALUE(payload, '$.a.b')",
            ));
        }
        if let Some(ScalarValue::Utf8(Some(path))) = args.scalar_arguments[1] {
            parse_path(path).map_err(plan_error)?;
        }
        Ok(Arc::new(Field::new(self.name(), DataType::Utf8, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (documents, paths) = (arrays[0].as_string::<i32>(), arrays[1].as_string::<i32>());
        // Parsed once per run of equal paths.
        let mut last: Option<(&str, Vec<Step>)> = None;
        let mut values = Vec::with_capacity(documents.len());
        for i in 0..documents.len() {
            if documents.is_null(i) || paths.is_null(i) {
                values.push(None);
                continue;
            }
            let path = paths.value(i);
            if last.as_ref().is_none_or(|(p, _)| *p != path) {
                last = Some((path, parse_path(path).map_err(plan_error)?));
            }
            let steps = last.as_ref().map_or(&[][..], |(_, s)| s.as_slice());
            values.push(json_value(documents.value(i), steps));
        }
        output(
            Arc::new(values.into_iter().collect::<StringArray>()),
            scalar,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(json: &str, path: &str) -> Option<String> {
        json_value(json, &parse_path(path).unwrap())
    }

    #[test]
    fn flinks_examples() {
        // Flink's documentation of JSON_VALUE, without RETURNING.
        assert_eq!(value(r#"{"a": true}"#, "$.a").as_deref(), Some("true"));
        assert_eq!(value(r#"{"a": true}"#, "lax $.b"), None);
        assert_eq!(value(r#"{"a": true}"#, "strict $.b"), None);
        assert_eq!(
            value(r#"{"a.b": [0.998,0.996]}"#, r#"$.["a.b"][0]"#).as_deref(),
            Some("0.998")
        );
        assert_eq!(
            value(
                r#"{"contains blank": "right"}"#,
                "strict $.['contains blank']"
            )
            .as_deref(),
            Some("right")
        );
    }

    #[test]
    fn paths_reach_into_objects_and_arrays() {
        let json = r#"{"a": {"b": [10, "x", null, {"c": 1.5}], "n": -2}, "s": "text"}"#;
        assert_eq!(value(json, "$.a.b[0]").as_deref(), Some("10"));
        assert_eq!(value(json, "$.a.b[1]").as_deref(), Some("x"));
        assert_eq!(value(json, "$.a.b[-1].c").as_deref(), Some("1.5"));
        assert_eq!(value(json, "$['a']['n']").as_deref(), Some("-2"));
        assert_eq!(value(json, "$.s").as_deref(), Some("text"));
        assert_eq!(value(json, "$.a.b[2]"), None, "null");
        assert_eq!(value(json, "$.a.b"), None, "an array");
        assert_eq!(value(json, "$.a"), None, "an object");
        assert_eq!(value(json, "$.a.b[9]"), None);
        assert_eq!(value(json, "$.a.b[-9]"), None);
        assert_eq!(value(json, "$.s.t"), None);
        assert_eq!(value(json, "$[0]"), None);
        assert_eq!(value("42", "$").as_deref(), Some("42"));
        assert_eq!(value("not json", "$.a"), None);
        assert_eq!(value("", "$"), None);
    }

    #[test]
    fn unsupported_paths_are_errors_naming_them() {
        for path in [
            "été $.a",
            "a.b",
            "$.a[*]",
            "$..a",
            "$.*",
            "$.a[",
            "$.a[x]",
            "$.",
            "$a",
            "$.a b",
        ] {
            let err = parse_path(path).unwrap_err();
            assert!(err.contains(&format!("'{path}'")), "{path}: {err}");
        }
        assert_eq!(
            parse_path("  LAX $.a[1]").unwrap(),
            vec![Step::Key("a".into()), Step::Index(1)]
        );
    }
}
