//! Training per window: `SELECT * FROM TRAIN_...('model', TABLE(TUMBLE(...)),
//! 'label', ...)` trains one version per window as the windows close; each
//! result row says which window, which version, and its metric.

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use super::call::{Call, Input};
use crate::error::{Error, Result};
use crate::ml::registry::Registry;

impl Call {
    /// The query whose rows this call trains on.
    pub fn input_sql(&self) -> &str {
        match &self.input {
            Input::Query(sql) | Input::Window(sql) => sql,
            Input::Rows(_) => "",
        }
    }

    /// The schema of per-window training results.
    pub fn window_results_schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![
            Field::new("window_start", DataType::Utf8, false),
            Field::new("window_end", DataType::Utf8, false),
            Field::new("model", DataType::Utf8, false),
            Field::new("version", DataType::UInt64, false),
            Field::new("rows", DataType::UInt64, false),
            Field::new("r2", DataType::Float64, true),
            Field::new("accuracy", DataType::Float64, true),
        ]))
    }

    /// Trains one version per window of `batch` (rows of a window function,
    /// with window_start and window_end); returns one result row per window.
    pub async fn train_windows(
        &self,
        ctx: &SessionContext,
        registry: &Registry,
        batch: &RecordBatch,
    ) -> Result<Vec<RecordBatch>> {
        use datafusion::arrow::array::{Array, AsArray};
        use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
        let schema = batch.schema();
        let (Ok(start), Ok(end)) = (
            schema.index_of("window_start"),
            schema.index_of("window_end"),
        ) else {
            return Err(Error::Internal(
                "windowed training input without window columns".into(),
            ));
        };
        // Formatters are not Send: turn the bounds into text before awaiting.
        let row_windows: Vec<(String, String)> = {
            let options = FormatOptions::default();
            let starts = ArrayFormatter::try_new(batch.column(start).as_ref(), &options)?;
            let ends = ArrayFormatter::try_new(batch.column(end).as_ref(), &options)?;
            (0..batch.num_rows())
                .map(|r| (starts.value(r).to_string(), ends.value(r).to_string()))
                .collect()
        };
        let mut windows = row_windows.clone();
        windows.sort();
        windows.dedup();
        let keep: Vec<usize> = (0..schema.fields().len())
            .filter(|i| {
                !["window_start", "window_end", "window_time"]
                    .contains(&schema.field(*i).name().as_str())
            })
            .collect();
        let mut results = Vec::new();
        for (window_start, window_end) in windows {
            let mask: datafusion::arrow::array::BooleanArray = (0..batch.num_rows())
                .map(|r| Some(row_windows[r].0 == window_start && row_windows[r].1 == window_end))
                .collect();
            let rows =
                datafusion::arrow::compute::filter_record_batch(batch, &mask)?.project(&keep)?;
            let trained = super::run(&self.with_rows(rows), ctx, registry).await?;
            let column = |name: &str| {
                trained
                    .schema()
                    .index_of(name)
                    .ok()
                    .map(|i| trained.column(i).clone())
            };
            let metric = |name: &str| {
                column(name).and_then(|c| {
                    c.as_primitive_opt::<datafusion::arrow::datatypes::Float64Type>()
                        .and_then(|a| (!a.is_null(0)).then(|| a.value(0)))
                })
            };
            let version = column("version")
                .and_then(|c| {
                    c.as_primitive_opt::<datafusion::arrow::datatypes::UInt64Type>()
                        .map(|a| a.value(0))
                })
                .unwrap_or_default();
            let rows = column("rows")
                .and_then(|c| {
                    c.as_primitive_opt::<datafusion::arrow::datatypes::UInt64Type>()
                        .map(|a| a.value(0))
                })
                .unwrap_or_default();
            results.push(RecordBatch::try_new(
                Self::window_results_schema(),
                vec![
                    Arc::new(StringArray::from(vec![window_start])),
                    Arc::new(StringArray::from(vec![window_end])),
                    Arc::new(StringArray::from(vec![self.model.clone()])),
                    Arc::new(UInt64Array::from(vec![version])),
                    Arc::new(UInt64Array::from(vec![rows])),
                    Arc::new(Float64Array::from(vec![metric("r2")])),
                    Arc::new(Float64Array::from(vec![metric("accuracy")])),
                ],
            )?);
        }
        Ok(results)
    }
}
