//! The streaming oracle: seeded random inputs, run as a stream through the
//! window operators, must give the same multiset of rows as DataFusion
//! computing the same windows as a plain batch query over the same files.
//!
//! Inputs are out of order, but never by more than the watermark delay, so no
//! row is late; a separate case adds rows that are certainly late and checks
//! both the answer (the batch answer over the on-time rows) and the count.
//! The batch side computes windows with its own SQL (date arithmetic, UNNEST,
//! LAG), not with flowsql's window functions. Both window operators are
//! covered: the sliced one (partial aggregate per slice) and, for queries it
//! cannot take, the one that aggregates each window's rows.

mod common;

use common::{write_files, Rng};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use flowsql::{Engine, QueryStream};

/// One generated input: rows `(key, value, event time in ms)` in arrival order.
struct Input {
    rows: Vec<(u64, u64, i64)>,
    delay: i64,
}

fn generate(rng: &mut Rng, delay: i64) -> Input {
    let n = 100 + rng.below(900) as usize;
    let keys = 1 + rng.below(6);
    let mut base = 1_767_261_600_000 + rng.below(100_000) as i64; // 2026-01-01 10:00 + a bit
    let mut rows = Vec::with_capacity(n);
    for _ in 0..n {
        base += rng.below(400) as i64;
        // Out of order, but never by more than the delay.
        let ts = base + rng.below(delay as u64) as i64;
        rows.push((1 + rng.below(keys), rng.below(50), ts));
    }
    Input { rows, delay }
}

async fn engine_with_tables(
    stream_dir: &str,
    batch_dir: &str,
    delay: i64,
    batch_size: u64,
) -> Engine {
    let engine = Engine::builder()
        .data_dir(std::env::temp_dir())
        .build()
        .await
        .unwrap();
    engine
        .execute(&format!(
            "SET datafusion.execution.batch_size = {batch_size};
             CREATE TABLE s (k BIGINT, v BIGINT, ts TIMESTAMP(3),
               WATERMARK FOR ts AS ts - INTERVAL '{delay}' MILLISECOND)
             WITH ('connector' = 'filesystem', 'path' = '{stream_dir}', 'format' = 'csv');
             CREATE TABLE b (k BIGINT, v BIGINT, ts TIMESTAMP(3))
             WITH ('connector' = 'filesystem', 'path' = '{batch_dir}', 'format' = 'csv');
             CREATE VIEW b_ms AS SELECT k, v, ts, CAST(ts AS BIGINT) AS ms FROM b;"
        ))
        .await
        .unwrap();
    engine
}

async fn rows_of(stream: QueryStream) -> Vec<String> {
    let batches: Vec<RecordBatch> = stream.collect().await.unwrap();
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in &batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect();
            rows.push(cells.join("|"));
        }
    }
    rows.sort();
    rows
}

/// The aggregates a case may use; values are integers so sums are exact.
const AGGREGATES: [&str; 7] = [
    "COUNT(*)",
    "SUM(v)",
    "MIN(v)",
    "MAX(v)",
    "AVG(v)",
    "COUNT(DISTINCT v % 7)",
    "COUNT(*) FILTER (WHERE v > 20)",
];

fn pick_aggregates(rng: &mut Rng) -> String {
    let mut chosen: Vec<&str> = AGGREGATES
        .iter()
        .copied()
        .filter(|_| rng.below(2) == 0)
        .collect();
    if chosen.is_empty() {
        chosen.push("COUNT(*)");
    }
    chosen
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{a} AS a{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Flink's group-window form, `GROUP BY k, TUMBLE(ts, size)`.
    GroupTumble,
    Tumble,
    Hop,
    Cumulate,
    Session,
}

/// The streaming query and its batch oracle for one random window.
fn queries(kind: Kind, rng: &mut Rng, aggregates: &str) -> (String, String) {
    let unit = [250i64, 500, 1000, 2000][rng.below(4) as usize];
    let group = "window_start, window_end, k";
    let select = format!("SELECT window_start, window_end, k, {aggregates}");
    match kind {
        Kind::GroupTumble => {
            let size = unit * (1 + rng.below(4) as i64);
            let interval = format!("INTERVAL '{size}' MILLISECOND");
            (
                format!(
                    "SELECT TUMBLE_START(ts, {interval}) AS window_start, TUMBLE_END(ts, {interval}) AS window_end, k, {aggregates}
                     FROM s GROUP BY k, TUMBLE(ts, {interval})"
                ),
                format!(
                    "{select} FROM (SELECT k, v, TO_TIMESTAMP_MILLIS(ms - ((ms % {size}) + {size}) % {size}) AS window_start,
                       TO_TIMESTAMP_MILLIS(ms - ((ms % {size}) + {size}) % {size} + {size}) AS window_end FROM b_ms) GROUP BY {group}"
                ),
            )
        }
        Kind::Tumble => {
            let size = unit * (1 + rng.below(4) as i64);
            (
                format!(
                    "{select} FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ts), INTERVAL '{size}' MILLISECOND)) GROUP BY {group}"
                ),
                format!(
                    "{select} FROM (SELECT k, v, TO_TIMESTAMP_MILLIS(ms - ((ms % {size}) + {size}) % {size}) AS window_start,
                       TO_TIMESTAMP_MILLIS(ms - ((ms % {size}) + {size}) % {size} + {size}) AS window_end FROM b_ms) GROUP BY {group}"
                ),
            )
        }
        Kind::Hop => {
            let slide = unit;
            let size = slide * (1 + rng.below(4) as i64);
            let n = size / slide;
            (
                format!(
                    "{select} FROM TABLE(HOP(TABLE s, DESCRIPTOR(ts), INTERVAL '{slide}' MILLISECOND, INTERVAL '{size}' MILLISECOND)) GROUP BY {group}"
                ),
                format!(
                    "{select} FROM (SELECT k, v, TO_TIMESTAMP_MILLIS(st) AS window_start, TO_TIMESTAMP_MILLIS(st + {size}) AS window_end
                       FROM (SELECT k, v, ms - ((ms % {slide}) + {slide}) % {slide} - i * {slide} AS st
                             FROM b_ms CROSS JOIN (SELECT UNNEST(RANGE(0, {n})) AS i)))
                     GROUP BY {group}"
                ),
            )
        }
        Kind::Cumulate => {
            let step = unit;
            let max = step * (1 + rng.below(4) as i64);
            let n = max / step;
            (
                format!(
                    "{select} FROM TABLE(CUMULATE(TABLE s, DESCRIPTOR(ts), INTERVAL '{step}' MILLISECOND, INTERVAL '{max}' MILLISECOND)) GROUP BY {group}"
                ),
                format!(
                    "{select} FROM (SELECT k, v, TO_TIMESTAMP_MILLIS(st) AS window_start, TO_TIMESTAMP_MILLIS(st + j * {step}) AS window_end
                       FROM (SELECT k, v, ms, j, ms - ((ms % {max}) + {max}) % {max} AS st
                             FROM b_ms CROSS JOIN (SELECT UNNEST(RANGE(1, {n} + 1)) AS j))
                       WHERE st + j * {step} > ms)
                     GROUP BY {group}"
                ),
            )
        }
        Kind::Session => {
            let gap = unit * (1 + rng.below(3) as i64);
            (
                format!(
                    "{select} FROM TABLE(SESSION(TABLE s PARTITION BY k, DESCRIPTOR(ts), INTERVAL '{gap}' MILLISECOND)) GROUP BY {group}"
                ),
                format!(
                    "WITH flagged AS (
                       SELECT k, v, ms, CASE WHEN ms - LAG(ms) OVER (PARTITION BY k ORDER BY ms) <= {gap} THEN 0 ELSE 1 END AS new_session
                       FROM b_ms),
                     numbered AS (
                       SELECT k, v, ms, SUM(new_session) OVER (PARTITION BY k ORDER BY ms ROWS UNBOUNDED PRECEDING) AS session FROM flagged),
                     bounds AS (
                       SELECT k, session, MIN(ms) AS st, MAX(ms) + {gap} AS en FROM numbered GROUP BY k, session)
                     {select} FROM (SELECT n.k, n.v, TO_TIMESTAMP_MILLIS(b.st) AS window_start, TO_TIMESTAMP_MILLIS(b.en) AS window_end
                                    FROM numbered n JOIN bounds b ON n.k = b.k AND n.session = b.session)
                     GROUP BY {group}"
                ),
            )
        }
    }
}

async fn run_cases(kind: Kind, cases: u64, seed: u64) {
    let mut rng = Rng(seed);
    for case in 0..cases {
        let delay = [1i64, 300, 1500, 4000][rng.below(4) as usize];
        let input = generate(&mut rng, delay);
        let dir = tempfile::tempdir().unwrap();
        let files = dir.path().join("files");
        write_files(&files, &input.rows, 50 + rng.below(400) as usize);
        let files = format!("{}/", files.display());
        let batch_size = [7u64, 64, 1000][rng.below(3) as usize];
        let engine = engine_with_tables(&files, &files, input.delay, batch_size).await;
        let aggregates = pick_aggregates(&mut rng);
        let (mut streaming, batch) = queries(kind, &mut rng, &aggregates);
        // Half the cases use the window columns below the aggregation (an
        // always-true filter), which the sliced operator cannot take: the
        // window operator that aggregates each window's rows runs them.
        let sliced = rng.below(2) == 0;
        if !sliced && matches!(kind, Kind::Tumble | Kind::Hop | Kind::Cumulate) {
            streaming =
                streaming.replace(" GROUP BY ", " WHERE window_end > window_start GROUP BY ");
        }

        let stream = engine.query(&streaming).await.unwrap();
        assert!(stream.is_streaming());
        let metrics = stream.metrics().unwrap();
        let got = rows_of(stream).await;
        let want = rows_of(engine.query(&batch).await.unwrap()).await;
        assert_eq!(
            metrics.late_rows(),
            0,
            "{kind:?} case {case}: no row was late\n{streaming}"
        );
        assert!(!want.is_empty());
        assert_eq!(
            got, want,
            "{kind:?} case {case} (seed {seed}, delay {delay}, batch size {batch_size}, sliced {sliced})\nstreaming: {streaming}\nbatch: {batch}"
        );
    }
}

/// How many random cases per window kind (`FLOWSQL_ORACLE_CASES` overrides).
fn cases() -> u64 {
    std::env::var("FLOWSQL_ORACLE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tumble_equals_batch() {
    run_cases(Kind::Tumble, cases(), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_window_tumble_equals_batch() {
    run_cases(Kind::GroupTumble, cases(), 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_equals_batch() {
    run_cases(Kind::Hop, cases(), 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cumulate_equals_batch() {
    run_cases(Kind::Cumulate, cases(), 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_equals_batch() {
    run_cases(Kind::Session, cases(), 4).await;
}

/// Rows far behind the watermark, in a file read after others, are dropped
/// and counted; the answer is the batch answer over the other rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_rows_are_dropped_and_counted() {
    let mut rng = Rng(99);
    for kind in [
        Kind::Tumble,
        Kind::GroupTumble,
        Kind::Hop,
        Kind::Cumulate,
        Kind::Session,
    ] {
        let input = generate(&mut rng, 500);
        let (first, rest) = input.rows.split_at(input.rows.len() / 2);
        // Certainly late: a minute before everything read so far.
        let late: Vec<(u64, u64, i64)> = (0..17)
            .map(|i| (1, i, first[0].2 - 60_000 - i as i64))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let stream_dir = dir.path().join("stream");
        let batch_dir = dir.path().join("batch");
        // Arrival order: first half, the late file, second half.
        let mut arrival = first.to_vec();
        arrival.extend(&late);
        arrival.extend(rest);
        write_files(&stream_dir, &arrival[..first.len()], first.len());
        std::fs::rename(stream_dir.join("part-0000.csv"), stream_dir.join("a.csv")).unwrap();
        write_files(&stream_dir, &late, late.len());
        std::fs::rename(stream_dir.join("part-0000.csv"), stream_dir.join("b.csv")).unwrap();
        write_files(&stream_dir, rest, rest.len());
        std::fs::rename(stream_dir.join("part-0000.csv"), stream_dir.join("c.csv")).unwrap();
        let on_time: Vec<_> = first.iter().chain(rest).copied().collect();
        write_files(&batch_dir, &on_time, on_time.len());

        let engine = engine_with_tables(
            &format!("{}/", stream_dir.display()),
            &format!("{}/", batch_dir.display()),
            input.delay,
            64,
        )
        .await;
        let (streaming, batch) = queries(kind, &mut rng, "COUNT(*) AS n, SUM(v) AS total");
        let stream = engine.query(&streaming).await.unwrap();
        let metrics = stream.metrics().unwrap();
        let got = rows_of(stream).await;
        let want = rows_of(engine.query(&batch).await.unwrap()).await;
        assert_eq!(got, want, "{kind:?}: {streaming}");
        assert_eq!(metrics.late_rows(), late.len() as u64, "{kind:?}");
    }
}

/// Closed windows are freed: on a long input the open windows stay few.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_stays_bounded_on_a_long_input() {
    let mut rng = Rng(7);
    let mut rows = Vec::new();
    let mut ts = 1_767_261_600_000i64;
    for _ in 0..20_000 {
        ts += rng.below(100) as i64;
        rows.push((1 + rng.below(5), rng.below(50), ts + rng.below(1000) as i64));
    }
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    write_files(&files, &rows, 2000);
    let files = format!("{}/", files.display());
    let engine = engine_with_tables(&files, &files, 1000, 256).await;
    for (query, bound) in [
        (
            "SELECT window_start, window_end, k, COUNT(*) FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start, window_end, k",
            10,
        ),
        (
            "SELECT window_start, window_end, k, COUNT(*) FROM TABLE(SESSION(TABLE s PARTITION BY k, DESCRIPTOR(ts), INTERVAL '300' MILLISECOND)) GROUP BY window_start, window_end, k",
            40,
        ),
    ] {
        let stream = engine.query(query).await.unwrap();
        let metrics = stream.metrics().unwrap();
        let emitted = rows_of(stream).await.len();
        assert!(emitted > 200, "{emitted} windows emitted");
        let most_open = metrics.max_open_windows();
        assert!(
            most_open <= bound,
            "{most_open} windows open at once, for {emitted} emitted: state is not freed\n{query}"
        );
    }
}

/// Window Top-N (the top two keys of each window by count, ties broken by
/// key) and window deduplication (each key's first row per window), as
/// Flink's docs write them, against the same ranking over batch windows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_top_n_and_deduplication_equal_batch() {
    let mut rng = Rng(0x70_9E);
    for case in 0..cases() / 10 {
        let delay = [1i64, 300, 1500][rng.below(3) as usize];
        let input = generate(&mut rng, delay);
        let dir = tempfile::tempdir().unwrap();
        let files = dir.path().join("files");
        write_files(&files, &input.rows, 50 + rng.below(400) as usize);
        let files = format!("{}/", files.display());
        let engine = engine_with_tables(&files, &files, input.delay, 64).await;
        let size = [250i64, 1000, 2000][rng.below(3) as usize];
        let streaming_rows =
            format!("TABLE(TUMBLE(TABLE s, DESCRIPTOR(ts), INTERVAL '{size}' MILLISECOND))");
        let batch_rows = format!(
            "(SELECT k, v, ts, TO_TIMESTAMP_MILLIS(ms - ((ms % {size}) + {size}) % {size}) AS window_start,
                TO_TIMESTAMP_MILLIS(ms - ((ms % {size}) + {size}) % {size} + {size}) AS window_end FROM b_ms)"
        );
        for template in [
            "SELECT * FROM (
               SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY c DESC, k) AS rn
               FROM (SELECT window_start, window_end, k, COUNT(*) AS c, SUM(v) AS total
                     FROM ROWS GROUP BY window_start, window_end, k))
             WHERE rn <= 2",
            "SELECT window_start, window_end, k, v, ts FROM (
               SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end, k ORDER BY ts, v) AS rn
               FROM ROWS)
             WHERE rn = 1",
        ] {
            let streaming = template.replace("ROWS", &streaming_rows);
            let batch = template.replace("ROWS", &batch_rows);
            let stream = engine.query(&streaming).await.unwrap();
            assert!(stream.is_streaming());
            let got = rows_of(stream).await;
            let want = rows_of(engine.query(&batch).await.unwrap()).await;
            assert!(!want.is_empty());
            assert_eq!(got, want, "case {case}: {streaming}");
        }
    }
}

/// A window over a view of a stream (filtered, projected) or over a CTE,
/// and cascading windows: a TUMBLE over the `window_time` of an inner TUMBLE's result
/// (Flink's docs' example), equal to the batch answer.
#[tokio::test]
async fn windows_over_views_and_cascading_windows_equal_batch() {
    let mut rng = Rng(0x0CA5_CADE);
    for case in 0..cases() / 10 {
        let delay = [1i64, 300, 1500][rng.below(3) as usize];
        let input = generate(&mut rng, delay);
        let dir = tempfile::tempdir().unwrap();
        let files = dir.path().join("files");
        write_files(&files, &input.rows, 50 + rng.below(400) as usize);
        let files = format!("{}/", files.display());
        let engine = engine_with_tables(&files, &files, input.delay, 64).await;
        let size = [250i64, 1000, 2000][rng.below(3) as usize];
        let outer = size * [2i64, 3][rng.below(2) as usize];
        engine
            .execute(&format!(
                "CREATE TEMPORARY VIEW sv AS SELECT k, v * 2 AS v2, ts FROM s WHERE v % 3 <> 0;
                 CREATE TEMPORARY VIEW inner_w AS
                   SELECT window_start AS s1, window_end AS e1, window_time AS rowtime, k,
                          SUM(v) AS partial, COUNT(*) AS n
                   FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ts), INTERVAL '{size}' MILLISECOND))
                   GROUP BY k, window_start, window_end, window_time;"
            ))
            .await
            .unwrap();
        let start =
            |size: i64| format!("TO_TIMESTAMP_MILLIS(ms - ((ms % {size}) + {size}) % {size})");
        let end = |size: i64| {
            format!("TO_TIMESTAMP_MILLIS(ms - ((ms % {size}) + {size}) % {size} + {size})")
        };
        let cases = [
            (
                format!(
                    "SELECT window_start, k, COUNT(*), SUM(v2) FROM TABLE(TUMBLE(TABLE sv, \
                     DESCRIPTOR(ts), INTERVAL '{size}' MILLISECOND)) \
                     GROUP BY window_start, window_end, k"
                ),
                format!(
                    "SELECT {}, k, COUNT(*), SUM(v * 2) FROM b_ms WHERE v % 3 <> 0 GROUP BY 1, 2",
                    start(size)
                ),
            ),
            (
                // The same over CTEs (the second reads the first).
                format!(
                    "WITH kept AS (SELECT k, v, ts FROM s WHERE v % 3 <> 0), \
                     doubled AS (SELECT k, v * 2 AS v2, ts FROM kept) \
                     SELECT window_start, k, COUNT(*), SUM(v2) FROM TABLE(TUMBLE(TABLE doubled, \
                     DESCRIPTOR(ts), INTERVAL '{size}' MILLISECOND)) \
                     GROUP BY window_start, window_end, k"
                ),
                format!(
                    "SELECT {}, k, COUNT(*), SUM(v * 2) FROM b_ms WHERE v % 3 <> 0 GROUP BY 1, 2",
                    start(size)
                ),
            ),
            (
                format!(
                    "SELECT window_start, window_end, SUM(partial), SUM(n) FROM TABLE(TUMBLE(TABLE \
                     inner_w, DESCRIPTOR(rowtime), INTERVAL '{outer}' MILLISECOND)) \
                     GROUP BY window_start, window_end"
                ),
                format!(
                    "SELECT {}, {}, SUM(v), COUNT(*) FROM b_ms GROUP BY 1, 2",
                    start(outer),
                    end(outer)
                ),
            ),
        ];
        for (streaming, batch) in cases {
            let stream = engine.query(&streaming).await.unwrap();
            assert!(stream.is_streaming());
            let got = rows_of(stream).await;
            let want = rows_of(engine.query(&batch).await.unwrap()).await;
            assert!(!want.is_empty());
            assert_eq!(got, want, "case {case}: {streaming}");
        }
    }
}
