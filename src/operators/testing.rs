//! What the operators' unit tests share (tests only): a window over events
//! `(k BIGINT, ts TIMESTAMP(3))`, the emission plan of a query over its
//! windowed rows, event batches, and rows as sorted text.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::emission::EmissionPlan;
use super::{Operator, Output};
use crate::window::{windowed_schema, WindowKind, WindowSpec};

/// The events' schema: `k BIGINT, ts TIMESTAMP(3)`.
pub fn events_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]))
}

/// Events `(k, ts in ms)`.
pub fn events(rows: &[(i64, i64)]) -> RecordBatch {
    let k = Int64Array::from_iter_values(rows.iter().map(|r| r.0));
    let ts = TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.1));
    RecordBatch::try_new(events_schema(), vec![Arc::new(k) as ArrayRef, Arc::new(ts)]).unwrap()
}

/// A window of `kind` over the events (SESSION partitioned by `k`).
pub fn spec(kind: WindowKind) -> Arc<WindowSpec> {
    let input = events_schema();
    let key_indices = match kind {
        WindowKind::Session { .. } => vec![0],
        _ => vec![],
    };
    Arc::new(WindowSpec {
        source_name: "events".into(),
        time_index: 1,
        key_indices,
        schema: windowed_schema(&input, input.field(1).data_type()),
        kind,
    })
}

/// The emission plan of `sql`, a query over table `w`: `window`'s
/// windowed rows.
pub async fn emission(window: &WindowSpec, sql: &str) -> EmissionPlan {
    let ctx = SessionContext::new();
    let table: Arc<dyn TableProvider> =
        Arc::new(MemTable::try_new(Arc::clone(&window.schema), vec![vec![]]).unwrap());
    ctx.register_table("w", Arc::clone(&table)).unwrap();
    let plan = ctx.state().create_logical_plan(sql).await.unwrap();
    EmissionPlan::try_new(&ctx, &plan, &[table]).await.unwrap()
}

/// The rows of `output`, one `a|b|c` line each, sorted.
pub fn rows(output: &Output) -> Vec<String> {
    crate::testing::sorted_rows(&output.batches)
}

/// Feeds `operator` each batch, then the watermark: what it passed on.
pub async fn feed(operator: &mut dyn Operator, batches: &[RecordBatch], watermark: i64) -> Output {
    let mut all = Output::default();
    for batch in batches {
        let out = operator.process_batch(batch.clone()).await.unwrap();
        all.batches.extend(out.batches);
    }
    let out = operator.on_watermark(watermark).await.unwrap();
    all.batches.extend(out.batches);
    all.watermark = out.watermark;
    all
}
