//! PREDICT, in both of its forms, as one vectorized DataFusion scalar
//! function.
//!
//! - Scalar: `PREDICT('m', f1, f2, ...)` in a SELECT list, the arguments
//!   being the model's features in its feature order. It returns numbers
//!   (regression) or class names (classification).
//! - Table: `PREDICT('m', input)` in FROM is rewritten ([`table_form`]) into
//!   a projection of the input that calls the internal
//!   `__flowsql_predict('m', f1, ...)`, which returns the prediction and the
//!   version that made it as one struct, so the output's `prediction` and
//!   `model_version` columns always agree. Being a plain projection, the
//!   table form over a stream runs batch by batch like any streaming
//!   projection.
//!
//! The newest version is looked up for every batch (a directory listing;
//! the model file is parsed only when it changes), so a running streaming
//! query picks up a newly trained version without a restart. The result's
//! type, number or class name, is fixed when the query is planned.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, StringArray, StructArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::features::{check_type, encode, HandleInvalid};
use super::predictions::Predictions;
use super::registry::{ModelFile, Registry, Task};
use crate::error::Error;

/// The internal name of the versioned form the table form is rewritten to.
pub const VERSIONED: &str = "__flowsql_predict";

/// `PREDICT(model, feature, ...)`, or its versioned internal form.
#[derive(Debug)]
pub struct PredictUdf {
    versioned: bool,
    registry: Registry,
    /// The newest version of each model seen, with its file's change time.
    cache: Mutex<HashMap<String, (SystemTime, Arc<ModelFile>)>>,
    signature: Signature,
}

impl PartialEq for PredictUdf {
    fn eq(&self, other: &Self) -> bool {
        self.versioned == other.versioned && self.registry == other.registry
    }
}

impl Eq for PredictUdf {}

impl std::hash::Hash for PredictUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.versioned.hash(state);
        self.registry.hash(state);
    }
}

impl PredictUdf {
    /// `PREDICT` over the models of `registry`.
    pub fn new(registry: Registry) -> Self {
        Self::with_version(registry, false)
    }

    /// `__flowsql_predict`: the prediction and the model version, as a struct.
    pub fn versioned(registry: Registry) -> Self {
        Self::with_version(registry, true)
    }

    fn with_version(registry: Registry, versioned: bool) -> Self {
        PredictUdf {
            versioned,
            registry,
            cache: Mutex::new(HashMap::new()),
            signature: Signature::variadic_any(Volatility::Volatile),
        }
    }

    /// The newest version of `name`, parsed again only when its file changed.
    fn model(&self, name: &str) -> crate::error::Result<Arc<ModelFile>> {
        let (path, changed) = self.registry.current_file(name)?;
        // A panic elsewhere cannot leave the cache half-written: it only
        // ever holds whole entries.
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, model)) = cache.get(name) {
            if *seen == changed && path.ends_with(format!("v{}.json", model.version)) {
                return Ok(Arc::clone(model));
            }
        }
        let model = Arc::new(self.registry.load(&path)?);
        cache.insert(name.to_string(), (changed, Arc::clone(&model)));
        Ok(model)
    }

    fn output_type(&self, task: Task) -> DataType {
        if self.versioned {
            DataType::Struct(struct_fields(task))
        } else {
            prediction_type(task)
        }
    }
}

/// What PREDICT gives for a model of `task`: a number, a class name, or a
/// cluster number.
fn prediction_type(task: Task) -> DataType {
    match task {
        Task::Regression => DataType::Float64,
        Task::Classification => DataType::Utf8,
        Task::Clustering => DataType::Int64,
    }
}

/// The fields of the versioned form: the prediction, for classifiers the
/// probability of the predicted class, and the version.
fn struct_fields(task: Task) -> Fields {
    let mut fields = vec![Field::new("prediction", prediction_type(task), true)];
    if task == Task::Classification {
        fields.push(Field::new("probability", DataType::Float64, true));
    }
    fields.push(Field::new("model_version", DataType::UInt64, false));
    Fields::from(fields)
}

fn usage() -> DataFusionError {
    DataFusionError::Plan(
        "PREDICT is written PREDICT('model', feature1, feature2, ...) in the model's feature \
         order (DESCRIBE MODEL lists it), or SELECT * FROM PREDICT('model', TABLE t)"
            .into(),
    )
}

fn model_name(value: Option<&ScalarValue>) -> Result<&str> {
    match value {
        Some(
            ScalarValue::Utf8(Some(name))
            | ScalarValue::Utf8View(Some(name))
            | ScalarValue::LargeUtf8(Some(name)),
        ) => Ok(name),
        _ => Err(usage()),
    }
}

fn feature_list(model: &ModelFile) -> String {
    model
        .features
        .iter()
        .map(|f| f.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl ScalarUDFImpl for PredictUdf {
    fn name(&self) -> &str {
        if self.versioned {
            VERSIONED
        } else {
            "predict"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Err(DataFusionError::Internal(
            "PREDICT's type depends on its model: return_field_from_args gives it".into(),
        ))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let name = model_name(args.scalar_arguments.first().copied().flatten())?;
        let model = self.model(name)?;
        let given = args.arg_fields.len() - 1;
        if given != model.features.len() {
            return Err(Error::query(format!(
                "PREDICT('{name}', ...) takes {} features ({}), not {given}",
                model.features.len(),
                feature_list(&model),
            ))
            .into());
        }
        for (feature, field) in model.features.iter().zip(&args.arg_fields[1..]) {
            check_type(feature, field.data_type())?;
        }
        let output = self.output_type(model.task());
        Ok(Arc::new(Field::new(self.name(), output, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(ColumnarValue::Scalar(name)) = args.args.first() else {
            return Err(usage());
        };
        let name = model_name(Some(name))?;
        let model = self.model(name)?;
        let inputs = &args.args[1..];
        if inputs.len() != model.features.len() {
            return Err(Error::query(format!(
                "model '{name}' now takes {} features ({}); restart the query",
                model.features.len(),
                feature_list(&model),
            ))
            .into());
        }
        let columns: Vec<ArrayRef> = inputs
            .iter()
            .map(|a| a.to_array(args.number_rows))
            .collect::<Result<_>>()?;
        let fields: Vec<Field> = model
            .features
            .iter()
            .zip(&columns)
            .map(|(f, c)| Field::new(&f.name, c.data_type().clone(), true))
            .collect();
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        let encoded = encode(&batch.into(), &model.features, None, HandleInvalid::Keep)?;
        let (predictions, probabilities): (ArrayRef, Option<ArrayRef>) =
            match model.predict(&encoded)? {
                Predictions::Values(values) => (Arc::new(Float64Array::from(values)), None),
                Predictions::Classes(classes, probabilities) => (
                    Arc::new(StringArray::from_iter_values(classes.iter().map(|c| {
                        model.classes.get(*c as usize).map_or("", String::as_str)
                    }))),
                    Some(Arc::new(Float64Array::from(probabilities))),
                ),
                Predictions::Clusters(clusters, _) => (Arc::new(Int64Array::from(clusters)), None),
            };
        if self.output_type(model.task()) != *args.return_field.data_type() {
            return Err(Error::Data(format!(
                "model '{name}' changed its task (now {}, version {}) while this query ran; \
                 restart the query",
                model.task().name(),
                model.version
            ))
            .into());
        }
        if !self.versioned {
            return Ok(ColumnarValue::Array(predictions));
        }
        let versions = Arc::new(UInt64Array::from_value(
            u64::from(model.version),
            args.number_rows,
        ));
        let columns: Vec<ArrayRef> = std::iter::once(predictions)
            .chain(probabilities)
            .chain(std::iter::once(versions as ArrayRef))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(StructArray::try_new(
            struct_fields(model.task()),
            columns,
            None,
        )?)))
    }
}

/// The SQL the table form `PREDICT('model', input)` stands for: the input's
/// columns, then `prediction` and `model_version`. `spec` is the model as
/// the call names it (`m`, or `m@3` for version 3), `model` the version it
/// names now; `columns` are the input's column names, each of the model's
/// features must be one of them.
pub fn table_form(
    spec: &str,
    model: &ModelFile,
    input_sql: &str,
    columns: &[String],
) -> crate::error::Result<String> {
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    for feature in &model.features {
        if !columns.contains(&feature.name) {
            return Err(Error::query(format!(
                "PREDICT('{}'): the model needs column '{}', which the input lacks; it has: {}",
                model.name,
                feature.name,
                columns.join(", ")
            )));
        }
    }
    let features: Vec<String> = model.features.iter().map(|f| quote(&f.name)).collect();
    let kept: Vec<String> = columns.iter().map(|c| quote(c)).collect();
    let name = spec.replace('\'', "''");
    // k-means calls its prediction `cluster`; classifiers add `probability`.
    let outputs: Vec<String> = struct_fields(model.task())
        .iter()
        .map(|field| {
            let shown = match (field.name().as_str(), model.task()) {
                ("prediction", Task::Clustering) => "cluster",
                (other, _) => other,
            };
            format!("__flowsql_scored['{}'] AS {shown}", field.name())
        })
        .collect();
    Ok(format!(
        "(SELECT {kept}, {outputs} \
         FROM (SELECT *, {VERSIONED}('{name}', {features}) AS __flowsql_scored \
         FROM ({input_sql}) AS __flowsql_input) AS __flowsql_prediction)",
        kept = kept.join(", "),
        outputs = outputs.join(", "),
        features = features.join(", "),
    ))
}
