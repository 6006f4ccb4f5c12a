//! Round trips: a query checkpointed after every batch, each checkpoint
//! written to a store, read back, and restored into a fresh pipeline of the
//! same query; the output before the checkpoint plus the restored run's
//! output must equal an uninterrupted run's, for every operator shape
//! (sliced TUMBLE with DISTINCT and a user-defined aggregate, HOP,
//! CUMULATE, the window operator, SESSION, per-batch filters, DISTINCT, the
//! updating GROUP BY, alone and over another), resuming
//! both between files and inside one.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{create_udaf, Accumulator, Volatility};
use object_store::memory::InMemory;
use object_store::path::Path;

use super::{CheckpointStore, QueryState};
use crate::testing::sorted_rows as rows;
use crate::Engine;

/// Sum of squares: a user-defined aggregate whose state is one number.
#[derive(Debug, Default)]
struct SumOfSquares(f64);

impl Accumulator for SumOfSquares {
    fn update_batch(&mut self, values: &[ArrayRef]) -> datafusion::error::Result<()> {
        self.0 += values[0]
            .as_primitive::<Float64Type>()
            .iter()
            .flatten()
            .map(|v| v * v)
            .sum::<f64>();
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
        Ok(vec![ScalarValue::Float64(Some(self.0))])
    }

    fn evaluate(&mut self) -> datafusion::error::Result<ScalarValue> {
        Ok(ScalarValue::Float64(Some(self.0)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// An engine with stream `events` over three Parquet files: the first of
/// two batches (70,000 rows), then two of 10,000; five keys, event time
/// 10 ms apart with up to 3 s of disorder (late rows) and a 5 s pause
/// every 1,000 rows (sessions end).
async fn engine_with_events(dir: &std::path::Path) -> Engine {
    let engine = Engine::builder().data_dir(dir).build().await.unwrap();
    let events = dir.join("events");
    let mut sql = String::new();
    for (part, (from, to)) in [(1, 70_000), (70_001, 80_000), (80_001, 90_000)]
        .iter()
        .enumerate()
    {
        sql.push_str(&format!(
            "COPY (SELECT value % 5 AS k, value % 1000 AS v,
                    TO_TIMESTAMP_MILLIS(1767261600000 + value * 10 + (value / 1000) * 5000
                                        - (value * 7919) % 3000) AS ts
                   FROM generate_series({from}, {to}) ORDER BY value)
             TO '{}/part-{part}.parquet' STORED AS PARQUET;",
            events.display()
        ));
    }
    sql.push_str(&format!(
        "CREATE TABLE events (k BIGINT, v BIGINT, ts TIMESTAMP(3),
           WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
         WITH ('connector' = 'filesystem', 'path' = '{}/', 'format' = 'parquet')",
        events.display()
    ));
    engine.execute(&sql).await.unwrap();
    engine.session_context().register_udaf(create_udaf(
        "sum_of_squares",
        vec![DataType::Float64],
        Arc::new(DataType::Float64),
        Volatility::Immutable,
        Arc::new(|_| Ok(Box::new(SumOfSquares::default()))),
        Arc::new(vec![DataType::Float64]),
    ));
    engine
}

/// Runs `sql` to its end (from `from` when given), checkpointing after
/// every batch; its results and its checkpoints.
async fn run(
    engine: &Engine,
    sql: &str,
    from: Option<QueryState>,
) -> (Vec<RecordBatch>, Vec<QueryState>) {
    let (mut pipeline, schema) = engine.pipeline(sql).await.unwrap();
    if let Some(state) = from {
        pipeline.restore(state).unwrap();
    }
    let mut checkpoints = pipeline.checkpoint_every(Duration::ZERO);
    let results = pipeline.start(schema).collect().await.unwrap();
    let mut states = Vec::new();
    while let Ok(state) = checkpoints.try_recv() {
        states.push(state);
    }
    (results, states)
}

/// Restores `sql` from each of its checkpoints, through a store, and checks
/// the output is the uninterrupted run's; `operator` must be in its pipeline.
async fn round_trips(sql: &str, operator: &str) {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with_events(dir.path()).await;
    let (pipeline, _) = engine.pipeline(sql).await.unwrap();
    assert!(
        pipeline
            .describe()
            .iter()
            .any(|line| line.contains(operator)),
        "{operator} not in {:?}",
        pipeline.describe()
    );
    drop(pipeline);

    let (uninterrupted, checkpoints) = run(&engine, sql, None).await;
    let want = rows(&uninterrupted);
    assert!(!want.is_empty());
    assert_eq!(
        checkpoints.len(),
        5,
        "one checkpoint per batch, and one at the end"
    );
    let store = CheckpointStore::new(Arc::new(InMemory::new()), Path::from("job"));
    for (id, checkpoint) in checkpoints.into_iter().enumerate() {
        store.write(id as u64, sql, &checkpoint).await.unwrap();
        let restored = store.latest(sql).await.unwrap().unwrap();
        assert_eq!(restored.id, id as u64);
        assert_eq!(
            restored.state, checkpoint,
            "the store gives back what it was given"
        );
        let before = checkpoint.results_before as usize;
        let (after, _) = run(&engine, sql, Some(restored.state)).await;
        let mut got = rows(&uninterrupted[..before]);
        got.extend(rows(&after));
        got.sort();
        assert_eq!(got, want, "restored from checkpoint {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sliced_tumble_with_distinct_and_a_user_defined_aggregate() {
    round_trips(
        "SELECT window_start, window_end, k, COUNT(*), SUM(v), MAX(v), AVG(v),
                COUNT(DISTINCT v % 7), sum_of_squares(CAST(v AS DOUBLE))
         FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '10' SECOND))
         GROUP BY window_start, window_end, k",
        "sliced",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sliced_hop() {
    round_trips(
        "SELECT window_start, window_end, k, COUNT(*), SUM(v)
         FROM TABLE(HOP(TABLE events, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '15' SECOND))
         GROUP BY window_start, window_end, k",
        "HOP",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sliced_cumulate() {
    round_trips(
        "SELECT window_start, window_end, k, COUNT(*), MIN(v)
         FROM TABLE(CUMULATE(TABLE events, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '20' SECOND))
         GROUP BY window_start, window_end, k",
        "CUMULATE",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_operator_holding_rows() {
    round_trips(
        "SELECT window_start, k, COUNT(*), SUM(v)
         FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '10' SECOND))
         WHERE ts > window_start
         GROUP BY window_start, window_end, k",
        "over events, emitted",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions() {
    round_trips(
        "SELECT window_start, window_end, k, COUNT(*), SUM(v)
         FROM TABLE(SESSION(TABLE events PARTITION BY k, DESCRIPTOR(ts), INTERVAL '2' SECOND))
         GROUP BY window_start, window_end, k",
        "session",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_batch_filter() {
    round_trips("SELECT k, v, ts FROM events WHERE v % 3 = 0", "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_rows() {
    // Seconds keep arriving (and, with the disorder, arrive again in later
    // batches): every checkpoint holds a different set of rows seen.
    round_trips(
        "SELECT DISTINCT k, date_trunc('second', ts) AS second FROM events",
        "distinct",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updating_group_by() {
    // The changelog before the checkpoint and after the restore is the
    // uninterrupted one: every key's accumulators and last result survive.
    round_trips(
        "SELECT k, COUNT(*), SUM(v), MAX(v), AVG(v), COUNT(DISTINCT v % 7),
                sum_of_squares(CAST(v AS DOUBLE))
         FROM events GROUP BY k",
        "group aggregate",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updating_group_by_on_the_columnar_path() {
    // COUNT, SUM, MIN, MAX, AVG of numbers: the typed columns survive.
    round_trips(
        "SELECT k, COUNT(*), COUNT(v), SUM(v), MIN(v), MAX(v), AVG(v), SUM(v / 2.0) AS fsum,
                MAX(v / 7.0) AS fmax
         FROM events GROUP BY k",
        "columnar",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updating_group_by_over_an_updating_input() {
    // The outer MIN and COUNT(DISTINCT) recompute from held values, which
    // are checkpointed too.
    round_trips(
        "SELECT n % 10 AS bucket, COUNT(*), MIN(top), COUNT(DISTINCT top), SUM(n)
         FROM (SELECT k, v % 50 AS g, COUNT(*) AS n, MAX(v) AS top FROM events GROUP BY k, v % 50)
         GROUP BY n % 10",
        "group aggregate",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_n_and_deduplication() {
    // The held rows (and their arrival order, which breaks ties) survive.
    round_trips(
        "SELECT * FROM (SELECT k, v, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v % 100 DESC)
         AS rn FROM events) WHERE rn <= 3",
        "top-n",
    )
    .await;
    // Keep-first: the rows waiting for the watermark and the keys done.
    round_trips(
        "SELECT k, v FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k, v % 10 ORDER BY ts)
         AS rn FROM events) WHERE rn = 1",
        "keep the first",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_aggregates() {
    // The rows waiting for the watermark and each key's frame survive; the
    // accumulators are rebuilt from the frame.
    round_trips(
        "SELECT k, v, SUM(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 3 PRECEDING AND
         CURRENT ROW), MAX(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 3 PRECEDING AND
         CURRENT ROW) FROM events",
        "over aggregate",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_of_another_query_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with_events(dir.path()).await;
    let sql = "SELECT window_start, k, COUNT(*)
               FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '10' SECOND))
               GROUP BY window_start, window_end, k";
    let (_, checkpoints) = run(&engine, sql, None).await;
    let store = CheckpointStore::new(Arc::new(InMemory::new()), Path::from("job"));
    store.write(0, sql, &checkpoints[0]).await.unwrap();
    let other = "SELECT k, v FROM events";
    let err = store.latest(other).await.unwrap_err();
    assert!(err.to_string().contains("different query"), "{err}");
    // Restoring a state into another query's pipeline is refused too.
    let (mut pipeline, _) = engine.pipeline(other).await.unwrap();
    let err = pipeline.restore(checkpoints[0].clone()).unwrap_err();
    assert!(err.to_string().contains("different query"), "{err}");
}

#[test]
fn float_states_survive_ipc() {
    // Guards the encoding the store relies on for accumulator states.
    let batch = RecordBatch::try_from_iter([(
        "s",
        Arc::new(Float64Array::from(vec![0.1, f64::MAX])) as ArrayRef,
    )])
    .unwrap();
    let bytes = super::snapshot::encode_table(std::slice::from_ref(&batch)).unwrap();
    assert_eq!(super::snapshot::decode_table(&bytes).unwrap(), vec![batch]);
}
