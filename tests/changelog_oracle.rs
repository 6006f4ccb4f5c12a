//! The changelog oracle: seeded random streams (keys with ties, NULLs, a
//! few rows per batch so keys change many times) through the updating
//! operators; the folded changelog must equal DataFusion's batch answer over
//! the same rows, for every query. Retractions flow through two levels (an
//! aggregate over an aggregate), by `retract_batch` (COUNT, SUM, AVG) and by
//! recomputing from held values (MIN, MAX, DISTINCT), and through Top-N
//! (a Top-N of an aggregate, an aggregate of a Top-N). Rows arrive a little
//! out of event-time order (less than the watermark delay), so keep-first
//! deduplication and OVER aggregates must wait for the watermark; their
//! append-only results are compared as multisets.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{folded_changelog, sorted_rows, Rng};
use datafusion::arrow::array::{
    ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::MemTable;
use flowsql::Engine;
use futures::StreamExt;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("v", DataType::Int64, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
    ]))
}

/// Random rows, cut into batches of 1 to 40 rows. Event times are unique
/// (so ties in `v` are broken by `ts` alike in both engines) and some
/// neighbours arrive swapped, less than 300 ms apart.
fn generate(rng: &mut Rng) -> Vec<RecordBatch> {
    let keys = 1 + rng.below(8);
    let total = 50 + rng.below(400) as usize;
    let mut times = Vec::with_capacity(total);
    let mut ts = 1_767_261_600_000_i64;
    for _ in 0..total {
        ts += 1 + rng.below(300) as i64;
        times.push(ts);
    }
    for i in 1..total {
        if rng.below(10) < 3 {
            times.swap(i - 1, i);
        }
    }
    let mut times = times.into_iter();
    let mut batches = Vec::new();
    let mut left = total;
    while left > 0 {
        let n = (1 + rng.below(40) as usize).min(left);
        left -= n;
        let mut k = Vec::new();
        let mut v = Vec::new();
        let mut t = Vec::new();
        for ts in times.by_ref().take(n) {
            k.push(format!("key{}", rng.below(keys)));
            v.push((rng.below(10) > 0).then(|| rng.below(30) as i64 - 5));
            t.push(ts);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(k)),
            Arc::new(Int64Array::from(v)),
            Arc::new(TimestampMillisecondArray::from(t)),
        ];
        batches.push(RecordBatch::try_new(schema(), columns).unwrap());
    }
    batches
}

/// The queries, each over the stream `t`; the batch side runs the same
/// text over a bounded table of the same rows.
const QUERIES: &[&str] = &[
    "SELECT k, COUNT(*) AS n, SUM(v) AS s, MIN(v) AS lo, MAX(v) AS hi, AVG(v) AS mean \
     FROM t GROUP BY k",
    "SELECT k, COUNT(DISTINCT v) AS d, SUM(v) FILTER (WHERE v > 10) AS big FROM t \
     GROUP BY k HAVING COUNT(*) > 3",
    "SELECT v % 3 AS r, COUNT(*) AS n, COUNT(v) AS present FROM t WHERE k <> 'key0' \
     GROUP BY v % 3",
    "SELECT COUNT(*) AS n, SUM(v) AS s, MAX(k) AS last_key FROM t",
    // Two levels: the outer aggregate takes the inner one's retractions.
    "SELECT n, COUNT(*) AS keys, SUM(s) AS total, MIN(k) AS first_key, MAX(s) AS top \
     FROM (SELECT k, COUNT(*) AS n, SUM(v) AS s FROM t GROUP BY k) GROUP BY n",
    "SELECT hi, COUNT(DISTINCT k) AS keys, AVG(n) AS mean FROM \
     (SELECT k, MAX(v) AS hi, COUNT(*) AS n FROM t GROUP BY k) WHERE n > 2 GROUP BY hi",
    "SELECT COUNT(*) AS groups FROM (SELECT k, v FROM t GROUP BY k, v)",
    // SELECT DISTINCT over an updating result: a row comes and goes with
    // its copies; and DISTINCT below an aggregate.
    "SELECT DISTINCT n FROM (SELECT k, COUNT(*) AS n FROM t GROUP BY k)",
    "SELECT s, COUNT(*) AS n FROM (SELECT DISTINCT k, v % 4 AS s FROM t) GROUP BY s",
    // Top-N with the rank column: changes per rank.
    "SELECT * FROM (SELECT k, v, ts, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC, ts) \
     AS rn FROM t) WHERE rn <= 3",
    // Without it: changes per partition.
    "SELECT k, v, ts FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v, ts DESC) \
     AS rn FROM t) WHERE rn <= 2",
    // Ties share a rank; every tied row is in.
    "SELECT k, v, r FROM (SELECT k, v, RANK() OVER (PARTITION BY k ORDER BY v DESC) AS r \
     FROM t) WHERE r <= 2",
    "SELECT k, v, dr FROM (SELECT k, v, DENSE_RANK() OVER (PARTITION BY k ORDER BY v) AS dr \
     FROM t WHERE v IS NOT NULL) WHERE dr <= 3 AND v > 0",
    "SELECT v, ts, rn FROM (SELECT v, ts, ROW_NUMBER() OVER (ORDER BY v DESC NULLS LAST, ts) \
     AS rn FROM t) WHERE 5 >= rn",
    // Top-1 with the rank column (one row per partition, replaced in place).
    "SELECT k, v, ts, rn FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC, \
     ts) AS rn FROM t) WHERE rn <= 1",
    // Deduplication: keep the last row (updating), keep the first (append-only).
    "SELECT k, v, ts FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts DESC) \
     AS rn FROM t) WHERE rn = 1",
    "SELECT k, v, ts FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts) \
     AS rn FROM t) WHERE rn = 1",
    // OVER aggregates (append-only, each row once the watermark passes it).
    "SELECT k, v, ts, SUM(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING \
     AND CURRENT ROW) AS s, COUNT(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 \
     PRECEDING AND CURRENT ROW) AS n FROM t",
    "SELECT k, ts, MAX(v) OVER w AS hi, AVG(v) OVER w AS mean, COUNT(*) OVER w AS n FROM t \
     WINDOW w AS (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '1' SECOND PRECEDING \
     AND CURRENT ROW)",
    "SELECT ts, MIN(v) OVER (ORDER BY ts RANGE BETWEEN INTERVAL '500' MILLISECOND PRECEDING \
     AND CURRENT ROW) AS lo FROM t WHERE v > 0",
    // A Top-N of an aggregate (retractions into the Top-N) ...
    "SELECT k, s, rn FROM (SELECT k, s, ROW_NUMBER() OVER (ORDER BY s DESC, k) AS rn \
     FROM (SELECT k, SUM(v) AS s FROM t GROUP BY k)) WHERE rn <= 3",
    // ... and an aggregate of a Top-N (retractions out of it).
    "SELECT k, COUNT(*) AS n, SUM(v) AS s FROM (SELECT k, v, ROW_NUMBER() OVER \
     (PARTITION BY k ORDER BY v DESC, ts) AS rn FROM t) WHERE rn <= 3 GROUP BY k",
];

async fn streaming(batches: &[RecordBatch], query: &str) -> Vec<String> {
    let engine = Engine::new().await.unwrap();
    let input = futures::stream::iter(Vec::from(batches).into_iter().map(Ok));
    engine
        .register_stream("t", schema(), "ts", Duration::from_secs(1), input)
        .unwrap();
    let results = engine.query(query).await.unwrap();
    assert!(results.is_streaming(), "{query} did not run as a stream");
    let batches = results.collect().await.unwrap();
    match results_are_changelog(&batches) {
        true => folded_changelog(&batches),
        false => sorted_rows(&batches),
    }
}

fn results_are_changelog(batches: &[RecordBatch]) -> bool {
    batches
        .first()
        .is_some_and(|b| b.schema().field(0).name() == "op")
}

async fn batch(batches: &[RecordBatch], query: &str) -> Vec<String> {
    let engine = Engine::new().await.unwrap();
    let table = MemTable::try_new(schema(), vec![batches.to_vec()]).unwrap();
    engine
        .session_context()
        .register_table("t", Arc::new(table))
        .unwrap();
    let results = engine.query(query).await.unwrap();
    assert!(!results.is_streaming());
    sorted_rows(&results.collect().await.unwrap())
}

#[tokio::test]
async fn folded_changelogs_equal_the_batch_answer() {
    let mut rng = Rng(0x5EED_C4A1);
    for case in 0..12 {
        let batches = generate(&mut rng);
        for query in QUERIES {
            let got = streaming(&batches, query).await;
            let want = batch(&batches, query).await;
            assert_eq!(got, want, "case {case}: {query}");
        }
    }
}

#[tokio::test]
async fn keeping_the_first_row_is_append_only_and_keeping_the_last_updates() {
    let batches = generate(&mut Rng(11));
    let dedup = |order: &str| {
        format!(
            "SELECT k, v FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts {order}) \
             AS rn FROM t) WHERE rn = 1"
        )
    };
    let engine = Engine::new().await.unwrap();
    let input = futures::stream::iter(batches.clone().into_iter().map(Ok));
    engine
        .register_stream("t", schema(), "ts", Duration::from_secs(1), input)
        .unwrap();
    let first = engine.query(&dedup("ASC")).await.unwrap();
    assert_ne!(first.schema().field(0).name(), "op");
    let first = first.collect().await.unwrap();
    let keys: std::collections::HashSet<String> = sorted_rows(&first)
        .into_iter()
        .map(|row| row.split(" | ").next().unwrap().to_string())
        .collect();
    assert_eq!(
        keys.len(),
        first.iter().map(|b| b.num_rows()).sum::<usize>()
    );
    let engine = Engine::new().await.unwrap();
    let input = futures::stream::iter(batches.into_iter().map(Ok));
    engine
        .register_stream("t", schema(), "ts", Duration::from_secs(1), input)
        .unwrap();
    let last = engine.query(&dedup("DESC")).await.unwrap();
    assert_eq!(last.schema().field(0).name(), "op");
    let kinds: Vec<String> = sorted_rows(&last.collect().await.unwrap())
        .into_iter()
        .map(|row| row[..2].to_string())
        .collect();
    assert!(kinds.iter().any(|k| k == "-U") && kinds.iter().any(|k| k == "+U"));
}

#[tokio::test]
async fn an_updating_result_says_so_and_retracts_before_it_updates() {
    let batches = generate(&mut Rng(7));
    let engine = Engine::new().await.unwrap();
    let input = futures::stream::iter(batches.into_iter().map(Ok));
    engine
        .register_stream("t", schema(), "ts", Duration::from_secs(1), input)
        .unwrap();
    let results = engine
        .query("SELECT k, COUNT(*) AS n FROM t GROUP BY k")
        .await
        .unwrap();
    assert_eq!(results.schema().field(0).name(), "op");
    let batches = results.collect().await.unwrap();
    // Per key: +I first, then -U of the last value right before its +U.
    let mut last: std::collections::HashMap<String, i64> = Default::default();
    let mut updates = 0;
    for row in batches.iter().flat_map(|b| {
        let b = b.clone();
        (0..b.num_rows()).map(move |i| {
            let cell = |c: usize| {
                datafusion::arrow::util::display::array_value_to_string(b.column(c), i).unwrap()
            };
            (cell(0), cell(1), cell(2).parse::<i64>().unwrap())
        })
    }) {
        let (kind, key, n) = row;
        match kind.as_str() {
            "+I" => assert!(last.insert(key, n).is_none()),
            "-U" => assert_eq!(last.get(&key), Some(&n)),
            "+U" => {
                updates += 1;
                assert!(last.insert(key, n).is_some())
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(updates > 10, "the input should update keys many times");
}

/// The kinds of key `key0`'s rows in the result of `query` (keyed by `k`),
/// the input's two batches 200 ms apart, under `SET`ting `settings`.
async fn kinds_of_key0(settings: &str, query: &str) -> Vec<String> {
    let engine = Engine::new().await.unwrap();
    engine.execute(settings).await.unwrap();
    let one = |ts: i64| {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["key0"])),
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(TimestampMillisecondArray::from(vec![ts])),
        ];
        RecordBatch::try_new(schema(), columns).unwrap()
    };
    let input = futures::stream::iter([one(1_000), one(2_000)]).then(|batch| async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(batch)
    });
    engine
        .register_stream("t", schema(), "ts", Duration::from_secs(1), input)
        .unwrap();
    let results = engine.query(query).await.unwrap();
    let batches = results.collect().await.unwrap();
    batches
        .iter()
        .flat_map(|b| {
            (0..b.num_rows()).map(move |i| {
                datafusion::arrow::util::display::array_value_to_string(b.column(0), i).unwrap()
            })
        })
        .collect()
}

#[tokio::test]
async fn the_state_ttl_forgets_idle_keys() {
    // An updating aggregate and a keep-last deduplication.
    for query in [
        "SELECT k, COUNT(*) FROM t GROUP BY k",
        "SELECT k, v FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts DESC) \
         AS rn FROM t) WHERE rn = 1",
    ] {
        // Kept: the second row updates the first.
        assert_eq!(
            kinds_of_key0("SET 'table.exec.state.ttl' = '0'", query).await,
            ["+I", "-U", "+U"],
            "{query}"
        );
        // Idle for 200 ms under a 10 ms TTL: forgotten, the key starts afresh.
        assert_eq!(
            kinds_of_key0("SET 'table.exec.state.ttl' = '10 ms'", query).await,
            ["+I", "+I"],
            "{query}"
        );
    }
}

/// Batches of (k, v, ts) rows, one batch per slice.
fn batches_of(slices: &[&[(&str, i64, i64)]]) -> Vec<RecordBatch> {
    slices
        .iter()
        .map(|rows| {
            let columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    rows.iter().map(|r| r.2),
                )),
            ];
            RecordBatch::try_new(schema(), columns).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn top_one_ties_go_to_the_later_row_keeping_the_last_and_else_to_the_earlier() {
    // Within a batch and across batches, rows tie on the ORDER BY key.
    let batches = batches_of(&[
        &[("a", 1, 1_000), ("a", 2, 1_000), ("b", 5, 1_000)],
        &[("a", 3, 1_000), ("b", 6, 900), ("b", 7, 1_000)],
    ]);
    // Keeping the last by event time, of one time the later to arrive is
    // the last (Flink's deduplication).
    let last = streaming(
        &batches,
        "SELECT k, v FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts DESC) \
         AS rn FROM t) WHERE rn = 1",
    )
    .await;
    // Ranked by more than one key, of equal keys the first to arrive stays.
    let first_of_ties = streaming(
        &batches,
        "SELECT k, v FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts \
         DESC, k) AS rn FROM t) WHERE rn = 1",
    )
    .await;
    assert_eq!(last, ["a | 3", "b | 7"]);
    assert_eq!(first_of_ties, ["a | 1", "b | 5"]);
}
