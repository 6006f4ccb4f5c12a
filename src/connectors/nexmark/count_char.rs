//! `count_char(s, c)`, the one UDF of the Nexmark suite (its q14 declares
//! it with `CREATE FUNCTION count_char AS
//! 'com.github.nexmark.flink.udf.CountChar'`): how many characters of `s`
//! are the first character of `c`, 0 for a NULL `s`, as the suite's Java
//! class counts. Registered from Rust under that class name, the way a
//! program embedding flowsql registers its own
//! ([`crate::Engine::register_function_class`]).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The Java class the suite names.
pub const CLASS: &str = "com.github.nexmark.flink.udf.CountChar";

/// The function, for [`crate::Engine::register_function_class`].
pub fn count_char() -> ScalarUDF {
    ScalarUDF::new_from_impl(CountCharUdf {
        signature: Signature::exact(vec![DataType::Utf8, DataType::Utf8], Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CountCharUdf {
    signature: Signature,
}

impl ScalarUDFImpl for CountCharUdf {
    fn name(&self) -> &str {
        "count_char"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [strings, character] = args.args.as_slice() else {
            return exec_err!("count_char takes two arguments: a string and a character");
        };
        let scalar = matches!(
            (strings, character),
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_))
        );
        let rows = if scalar { 1 } else { args.number_rows };
        let strings = strings.to_array(rows)?;
        let characters = character.to_array(rows)?;
        let (strings, characters) = (strings.as_string::<i32>(), characters.as_string::<i32>());
        let counts: Int64Array = (0..rows)
            .map(|i| {
                let wanted = (!characters.is_null(i))
                    .then(|| characters.value(i).chars().next())
                    .flatten();
                match (strings.is_null(i), wanted) {
                    (true, _) => Some(0),
                    // Java's charAt(0) of an empty or NULL string throws;
                    // here the row's count is NULL instead.
                    (false, None) => None,
                    (false, Some(c)) => {
                        Some(strings.value(i).chars().filter(|&x| x == c).count() as i64)
                    }
                }
            })
            .collect();
        let counts: ArrayRef = Arc::new(counts);
        Ok(match scalar {
            true => ColumnarValue::Scalar(ScalarValue::try_from_array(&counts, 0)?),
            false => ColumnarValue::Array(counts),
        })
    }
}
