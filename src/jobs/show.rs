//! The rows of `SHOW JOBS`.

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use super::info::{CheckpointInfo, JobInfo, JobState};
use crate::error::Result;
use crate::metrics::StreamMetrics;

/// The rows of `SHOW JOBS`.
pub fn jobs_batch(jobs: &[JobInfo]) -> Result<RecordBatch> {
    let metric = |f: fn(&StreamMetrics) -> u64| {
        UInt64Array::from_iter(jobs.iter().map(|j| j.metrics.as_deref().map(f)))
    };
    let watermark = jobs.iter().map(|j| {
        j.metrics
            .as_ref()
            .and_then(|m| m.watermark())
            .and_then(datafusion::arrow::temporal_conversions::timestamp_ms_to_datetime)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string())
    });
    let error = jobs.iter().map(|j| match &j.state {
        JobState::Failed(e) => Some(e.clone()),
        _ => None,
    });
    let checkpoint = |f: fn(&CheckpointInfo) -> f64| {
        Float64Array::from_iter(jobs.iter().map(|j| j.last_checkpoint.as_ref().map(f)))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::UInt64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("query", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("rows_in", DataType::UInt64, true),
        Field::new("rows_out", DataType::UInt64, false),
        Field::new("late_rows", DataType::UInt64, true),
        Field::new("malformed", DataType::UInt64, true),
        Field::new("watermark", DataType::Utf8, true),
        Field::new("rows_held", DataType::UInt64, true),
        Field::new("uptime_s", DataType::Float64, false),
        Field::new("last_checkpoint", DataType::UInt64, true),
        Field::new("checkpoint_age_s", DataType::Float64, true),
        Field::new("checkpoint_ms", DataType::Float64, true),
        Field::new("checkpoint_bytes", DataType::UInt64, true),
        Field::new("error", DataType::Utf8, true),
        Field::new("warnings", DataType::Utf8, true),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(UInt64Array::from_iter_values(jobs.iter().map(|j| j.id))),
            Arc::new(StringArray::from_iter(jobs.iter().map(|j| j.name.clone()))),
            Arc::new(StringArray::from_iter_values(
                jobs.iter().map(|j| j.query.clone()),
            )),
            Arc::new(StringArray::from_iter_values(
                jobs.iter().map(|j| j.state.name()),
            )),
            Arc::new(metric(|m| m.rows_in())),
            Arc::new(UInt64Array::from_iter_values(
                jobs.iter().map(|j| j.rows_out),
            )),
            Arc::new(metric(|m| m.late_rows())),
            Arc::new(metric(|m| m.malformed())),
            Arc::new(StringArray::from_iter(watermark)),
            Arc::new(metric(|m| m.held_rows() as u64)),
            Arc::new(Float64Array::from_iter_values(
                jobs.iter().map(|j| j.started.elapsed().as_secs_f64()),
            )),
            Arc::new(UInt64Array::from_iter(
                jobs.iter().map(|j| j.last_checkpoint.map(|c| c.id)),
            )),
            Arc::new(checkpoint(|c| {
                c.at.elapsed().map_or(0.0, |age| age.as_secs_f64())
            })),
            Arc::new(checkpoint(|c| c.duration.as_secs_f64() * 1000.0)),
            Arc::new(UInt64Array::from_iter(
                jobs.iter().map(|j| j.last_checkpoint.map(|c| c.bytes)),
            )),
            Arc::new(StringArray::from_iter(error)),
            Arc::new(StringArray::from_iter(jobs.iter().map(|j| {
                (!j.warnings.is_empty()).then(|| j.warnings.join("; "))
            }))),
        ],
    )?)
}
