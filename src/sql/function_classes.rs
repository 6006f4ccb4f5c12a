//! The functions `CREATE FUNCTION name AS 'class'` can name: Rust scalar
//! UDFs a program registered under a class name (Flink's classpath, as
//! flowsql has it). The statement registers the class's function under
//! `name` only, so a class whose Rust name is also a built-in's leaves the
//! built-in alone.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature,
};

use crate::error::{Error, Result};

/// Class name → function.
#[derive(Debug, Default, Clone)]
pub struct FunctionClasses {
    classes: Arc<RwLock<BTreeMap<String, Arc<ScalarUDF>>>>,
}

impl FunctionClasses {
    /// Makes `udf` what `CREATE FUNCTION ... AS 'class'` names.
    pub fn register(&self, class: &str, udf: ScalarUDF) {
        self.classes
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(class.to_string(), Arc::new(udf));
    }

    /// The function of `class` under the SQL name `name`.
    pub fn function(&self, class: &str, name: &str) -> Result<ScalarUDF> {
        let classes = self
            .classes
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(udf) = classes.get(class) else {
            let known: Vec<&str> = classes.keys().map(String::as_str).collect();
            return Err(Error::query(format!(
                "no function class '{class}': flowsql runs no Java; a program embedding it \
                 registers Rust functions under class names with \
                 Engine::register_function_class (known here: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        };
        Ok(ScalarUDF::new_from_impl(Named {
            name: name.to_string(),
            inner: Arc::clone(udf),
        }))
    }
}

/// A function under another name.
#[derive(Debug)]
struct Named {
    name: String,
    inner: Arc<ScalarUDF>,
}

impl PartialEq for Named {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.inner == other.inner
    }
}

impl Eq for Named {}

impl std::hash::Hash for Named {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.inner.hash(state);
    }
}

impl ScalarUDFImpl for Named {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> DFResult<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DFResult<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        self.inner.invoke_with_args(args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> DFResult<ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DFResult<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}
