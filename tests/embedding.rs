//! The embedding API: a program registers its own stream of record batches
//! as a streaming table, adds a UDF and a UDAF through DataFusion's
//! `SessionContext`, and reads windowed results from `Engine::query`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::TimestampMillisecondArray;
use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Int64Type, Schema, TimeUnit, TimestampMillisecondType,
};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{create_udaf, create_udf, Accumulator, ColumnarValue, Volatility};
use flowsql::Engine;
use futures::StreamExt;

/// sum of squares: a user-defined aggregate.
#[derive(Debug, Default)]
struct SumOfSquares(f64);

impl Accumulator for SumOfSquares {
    fn update_batch(&mut self, values: &[ArrayRef]) -> datafusion::error::Result<()> {
        let values = values[0].as_primitive::<Float64Type>();
        self.0 += values.iter().flatten().map(|v| v * v).sum::<f64>();
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> datafusion::error::Result<()> {
        self.0 += states[0]
            .as_primitive::<Float64Type>()
            .iter()
            .flatten()
            .sum::<f64>();
        Ok(())
    }

    fn state(&mut self) -> datafusion::error::Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::from(self.0)])
    }

    fn evaluate(&mut self) -> datafusion::error::Result<ScalarValue> {
        Ok(ScalarValue::from(self.0))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Float64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
    ]))
}

/// Rows `(k, v, ts ms)`: three keys, one row per 700 ms, a little out of order.
fn rows() -> Vec<(i64, f64, i64)> {
    (0..300i64)
        .map(|i| {
            (
                i % 3,
                (i % 11) as f64,
                1_767_261_600_000 + i * 700 - (i % 4) * 200,
            )
        })
        .collect()
}

fn batches() -> Vec<RecordBatch> {
    rows()
        .chunks(25)
        .map(|chunk| {
            RecordBatch::try_new(
                schema(),
                vec![
                    Arc::new(Int64Array::from_iter_values(chunk.iter().map(|r| r.0))),
                    Arc::new(Float64Array::from_iter_values(chunk.iter().map(|r| r.1))),
                    Arc::new(TimestampMillisecondArray::from_iter_values(
                        chunk.iter().map(|r| r.2),
                    )),
                ],
            )
            .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_stream_with_a_udf_and_a_udaf_gives_windowed_results() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder()
        .data_dir(dir.path())
        .build()
        .await
        .unwrap();
    let ctx = engine.session_context();
    ctx.register_udf(create_udf(
        "double_it",
        vec![DataType::Float64],
        DataType::Float64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let values = ColumnarValue::values_to_arrays(args)?;
            let doubled: Float64Array = values[0]
                .as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.map(|v| v * 2.0))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(doubled)))
        }),
    ));
    ctx.register_udaf(create_udaf(
        "sum_of_squares",
        vec![DataType::Float64],
        Arc::new(DataType::Float64),
        Volatility::Immutable,
        Arc::new(|_| Ok(Box::new(SumOfSquares::default()))),
        Arc::new(vec![DataType::Float64]),
    ));
    let input = futures::stream::iter(batches().into_iter().map(Ok));
    engine
        .register_stream("events", schema(), "ts", Duration::from_secs(1), input)
        .unwrap();

    let query = "SELECT window_start, k, COUNT(*) AS n, sum_of_squares(v) AS squares, MAX(double_it(v)) AS top
                 FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '10' SECOND))
                 GROUP BY window_start, window_end, k";
    // EXPLAIN describes the pipeline without reading the stream.
    let explained = engine
        .query(&format!("EXPLAIN {query}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let lines = explained[0].column(0).as_string::<i32>();
    assert_eq!(lines.value(0), "source: registered stream 'events'");

    let mut results = engine.query(query).await.unwrap();
    assert!(results.is_streaming());
    let mut got = BTreeMap::new();
    let mut emissions = 0;
    while let Some(batch) = results.next().await {
        let batch = batch.unwrap();
        emissions += 1;
        let starts = batch.column(0).as_primitive::<TimestampMillisecondType>();
        for row in 0..batch.num_rows() {
            got.insert(
                (
                    starts.value(row),
                    batch.column(1).as_primitive::<Int64Type>().value(row),
                ),
                (
                    batch.column(2).as_primitive::<Int64Type>().value(row),
                    batch.column(3).as_primitive::<Float64Type>().value(row),
                    batch.column(4).as_primitive::<Float64Type>().value(row),
                ),
            );
        }
    }

    // The same windows computed directly.
    let mut want: BTreeMap<(i64, i64), (i64, f64, f64)> = BTreeMap::new();
    for (k, v, ts) in rows() {
        let start = ts - ts.rem_euclid(10_000);
        let entry = want.entry((start, k)).or_insert((0, 0.0, f64::MIN));
        entry.0 += 1;
        entry.1 += v * v;
        entry.2 = entry.2.max(2.0 * v);
    }
    assert_eq!(got, want);
    // Windows were emitted as the watermark passed them, not all at the end.
    assert!(emissions > 10, "{emissions} emissions");

    // The stream was consumed by the first query.
    let err = engine.query(query).await.expect_err("a second read fails");
    assert!(err.to_string().contains("already read"), "{err}");
}

#[tokio::test]
async fn registering_needs_a_timestamp_column() {
    let engine = Engine::new().await.unwrap();
    let err = engine
        .register_stream(
            "bad",
            schema(),
            "v",
            Duration::from_secs(1),
            futures::stream::empty(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("not a timestamp"), "{err}");
    let err = engine
        .register_stream(
            "bad",
            schema(),
            "nope",
            Duration::from_secs(1),
            futures::stream::empty(),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("no event-time column 'nope'"),
        "{err}"
    );
}

/// Flink's `CREATE FUNCTION name AS 'class'` names a Rust function the
/// program registered under that class: it is called by the statement's
/// name only (a built-in of the function's own name is left alone), in
/// batch and streaming queries; an unknown class is an error naming the
/// known ones, and a taken name an error unless IF NOT EXISTS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_function_names_a_function_class_registered_from_rust() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder()
        .data_dir(dir.path())
        .build()
        .await
        .unwrap();
    // A Rust UDF whose own name is a built-in's: `abs`, returning v + 100.
    engine.register_function_class(
        "com.example.PlusHundred",
        create_udf(
            "abs",
            vec![DataType::Float64],
            DataType::Float64,
            Volatility::Immutable,
            Arc::new(|args: &[ColumnarValue]| {
                let values = ColumnarValue::values_to_arrays(args)?;
                let plus: Float64Array = values[0]
                    .as_primitive::<Float64Type>()
                    .iter()
                    .map(|v| v.map(|v| v + 100.0))
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(plus)))
            }),
        ),
    );
    engine
        .execute(
            "CREATE TEMPORARY FUNCTION plus_hundred AS 'com.example.PlusHundred' LANGUAGE JAVA",
        )
        .await
        .unwrap();
    let input = futures::stream::iter(batches().into_iter().map(Ok));
    engine
        .register_stream("events", schema(), "ts", Duration::from_secs(1), input)
        .unwrap();
    let mut streamed = Vec::new();
    let mut results = engine
        .query("SELECT plus_hundred(v), abs(-v) FROM events")
        .await
        .unwrap();
    while let Some(batch) = results.next().await {
        let batch = batch.unwrap();
        for row in 0..batch.num_rows() {
            streamed.push((
                batch.column(0).as_primitive::<Float64Type>().value(row),
                batch.column(1).as_primitive::<Float64Type>().value(row),
            ));
        }
    }
    let want: Vec<(f64, f64)> = rows()
        .iter()
        .map(|(_, v, _)| (v + 100.0, v.abs()))
        .collect();
    assert_eq!(streamed, want);

    let err = engine
        .execute("CREATE FUNCTION plus_hundred AS 'com.example.PlusHundred'")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("exists already"), "{err}");
    engine
        .execute("CREATE FUNCTION IF NOT EXISTS plus_hundred AS 'com.example.Other'")
        .await
        .unwrap();
    let err = engine
        .execute("CREATE FUNCTION other AS 'com.example.Missing'")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'com.example.Missing'") && err.contains("com.example.PlusHundred"),
        "{err}"
    );
}
