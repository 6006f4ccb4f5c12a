//! One CSV record per line: a value that runs across lines is malformed.
//!
//! Arrow's CSV reader lets a quoted value hold newlines, so a stray quote
//! (`2,"unterminated`) swallows every line after it, to the end of the
//! file, into one value. DataFusion reads CSV as one record per line
//! (`newlines_in_values` is off), and so does flowsql: a text value holding
//! a newline is taken for what it almost always is, an unterminated quote,
//! and the read fails naming the file, column and value.
//!
//! [`CsvRecordsExec`] checks a scan's batches; file streams call
//! [`check_batch`] themselves.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::StreamExt;

use crate::error::{Error, Result};

/// Fails when a text value of `batch`, read from CSV `file`, holds a newline.
pub fn check_batch(batch: &RecordBatch, file: &str) -> Result<()> {
    for (column, field) in batch.columns().iter().zip(batch.schema().fields()) {
        let at = |value: Option<&str>| -> Result<()> {
            let Some(value) = value.filter(|v| v.contains('\n')) else {
                return Ok(());
            };
            let start: String = value.chars().take(40).collect();
            Err(Error::Data(format!(
                "'{file}': the value of column '{}' starting {:?} runs across lines: an \
                 unterminated quote? CSV is read one record per line",
                field.name(),
                start
            )))
        };
        match column.data_type() {
            DataType::Utf8 => {
                let text = column.as_string::<i32>();
                // Most batches hold no newline at all: one scan of the bytes.
                if text.value_data().contains(&b'\n') {
                    text.iter().try_for_each(at)?;
                }
            }
            DataType::LargeUtf8 => column.as_string::<i64>().iter().try_for_each(at)?,
            DataType::Utf8View => column.as_string_view().iter().try_for_each(at)?,
            _ => {}
        }
    }
    Ok(())
}

/// A CSV scan whose batches are checked by [`check_batch`].
#[derive(Debug)]
pub struct CsvRecordsExec {
    input: Arc<dyn ExecutionPlan>,
    file: String,
}

impl CsvRecordsExec {
    /// Checks the batches of `input`, a scan of `file`.
    pub fn new(input: Arc<dyn ExecutionPlan>, file: String) -> Self {
        CsvRecordsExec { input, file }
    }
}

impl DisplayAs for CsvRecordsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CsvRecordsExec: one record per line of {}", self.file)
    }
}

impl ExecutionPlan for CsvRecordsExec {
    fn name(&self) -> &str {
        "CsvRecordsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(CsvRecordsExec::new(input, self.file.clone()))),
            _ => Err(DataFusionError::Internal(
                "CsvRecordsExec takes one child".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = input.schema();
        let file = self.file.clone();
        let checked = input.map(move |batch| {
            let batch = batch?;
            check_batch(&batch, &file)?;
            Ok(batch)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, checked)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, StringArray};

    #[test]
    fn a_value_across_lines_is_malformed() {
        let ok = RecordBatch::try_from_iter([(
            "b",
            Arc::new(StringArray::from(vec!["x", "y"])) as ArrayRef,
        )])
        .unwrap();
        assert!(check_batch(&ok, "f.csv").is_ok());
        let swallowed = RecordBatch::try_from_iter([(
            "b",
            Arc::new(StringArray::from(vec!["x", "unterminated\n3,y\n"])) as ArrayRef,
        )])
        .unwrap();
        let err = check_batch(&swallowed, "f.csv").unwrap_err().to_string();
        assert!(err.contains("'f.csv': the value of column 'b' starting \"unterminated\\n3,y\\n\" runs across lines"), "{err}");
    }
}
