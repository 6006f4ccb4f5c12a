//! The join oracle: seeded random streams, joined or combined as streams,
//! must give the same multiset of rows as DataFusion computing the same
//! over the same files as plain batch tables.
//!
//! Two streams `s` and `t` (each out of order, never by more than its
//! watermark delay, so no row is late under the least of their watermarks)
//! are read from their own files. The batch side computes the windows with
//! its own SQL (date arithmetic, UNNEST), not with flowsql's window
//! functions. Covered here: window joins of every kind, a window over a
//! UNION ALL of streams, windows of different sizes in one query, joins
//! with bounded tables, interval and regular joins (of updating inputs
//! too), and temporal joins
//! (the batch query picks each row's version by time explicitly).

mod common;

use common::{sorted_rows, write_files, Rng};
use flowsql::Engine;

/// Rows `(key, value, event time in ms)` in arrival order.
fn generate(rng: &mut Rng, delay: i64) -> Vec<(u64, u64, i64)> {
    let n = 50 + rng.below(500) as usize;
    let keys = 1 + rng.below(5);
    let mut base = 1_767_261_600_000 + rng.below(5_000) as i64;
    let mut rows = Vec::with_capacity(n);
    for _ in 0..n {
        base += rng.below(300) as i64;
        let ts = base + rng.below(delay as u64) as i64;
        rows.push((1 + rng.below(keys), rng.below(50), ts));
    }
    rows
}

/// Streams `s` and `t` over their own random files (and the same files as
/// bounded tables `b` and `c`, with views `b_ms`, `c_ms` adding the event
/// time in milliseconds); and each stream's watermark delay.
async fn engine(rng: &mut Rng, dir: &std::path::Path) -> (Engine, Vec<i64>) {
    engine_with_files(rng, dir, 20..220).await
}

/// As [`engine`], each file holding a number of rows in `per_file` (a
/// stream reads a file per batch).
async fn engine_with_files(
    rng: &mut Rng,
    dir: &std::path::Path,
    per_file: std::ops::Range<u64>,
) -> (Engine, Vec<i64>) {
    let engine = Engine::builder().data_dir(dir).build().await.unwrap();
    let batch_size = [7u64, 64, 1000][rng.below(3) as usize];
    let mut ddl = format!("SET datafusion.execution.batch_size = {batch_size};");
    let mut delays = Vec::new();
    for (stream, bounded) in [("s", "b"), ("t", "c")] {
        let delay = [1i64, 300, 1500][rng.below(3) as usize];
        delays.push(delay);
        let files = dir.join(stream);
        let rows = per_file.start + rng.below(per_file.end - per_file.start);
        write_files(&files, &generate(rng, delay), rows as usize);
        let path = format!("{}/", files.display());
        ddl.push_str(&format!(
            "CREATE TABLE {stream} (k BIGINT, v BIGINT, ts TIMESTAMP(3),
               WATERMARK FOR ts AS ts - INTERVAL '{delay}' MILLISECOND)
             WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'csv');
             CREATE TABLE {bounded} (k BIGINT, v BIGINT, ts TIMESTAMP(3))
             WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'csv');
             CREATE VIEW {bounded}_ms AS SELECT k, v, ts, CAST(ts AS BIGINT) AS ms FROM {bounded};"
        ));
    }
    engine.execute(&ddl).await.unwrap();
    (engine, delays)
}

/// Runs `streaming` as a stream and `batch` as a batch query: the same rows,
/// none of them late, and not none.
async fn assert_same(engine: &Engine, streaming: &str, batch: &str, case: &str) {
    let stream = engine.query(streaming).await.unwrap();
    assert!(stream.is_streaming(), "{streaming}");
    let metrics = stream.metrics().unwrap();
    let got = sorted_rows(&stream.collect().await.unwrap());
    let want = sorted_rows(&engine.query(batch).await.unwrap().collect().await.unwrap());
    assert_eq!(
        metrics.late_rows(),
        0,
        "{case}: no row was late\n{streaming}"
    );
    assert!(!want.is_empty(), "{case}: {batch}");
    assert_eq!(got, want, "{case}\nstreaming: {streaming}\nbatch: {batch}");
}

/// A window function over `table`, and the batch rows it stands for (over
/// `bounded`_ms): TUMBLE of `size`, or HOP of `size` every `slide`.
fn windows(table: &str, bounded: &str, size: i64, slide: Option<i64>) -> (String, String) {
    match slide {
        None => (
            format!("TABLE(TUMBLE(TABLE {table}, DESCRIPTOR(ts), INTERVAL '{size}' MILLISECOND))"),
            format!(
                "(SELECT k, v, ts, TO_TIMESTAMP_MILLIS(ms - ((ms % {size}) + {size}) % {size}) AS window_start,
                   TO_TIMESTAMP_MILLIS(ms - ((ms % {size}) + {size}) % {size} + {size}) AS window_end
                 FROM {bounded}_ms)"
            ),
        ),
        Some(slide) => (
            format!(
                "TABLE(HOP(TABLE {table}, DESCRIPTOR(ts), INTERVAL '{slide}' MILLISECOND, \
                 INTERVAL '{size}' MILLISECOND))"
            ),
            format!(
                "(SELECT k, v, ts, TO_TIMESTAMP_MILLIS(st) AS window_start,
                   TO_TIMESTAMP_MILLIS(st + {size}) AS window_end
                 FROM (SELECT k, v, ts, ms - ((ms % {slide}) + {slide}) % {slide} - i * {slide} AS st
                       FROM {bounded}_ms CROSS JOIN (SELECT UNNEST(RANGE(0, {n})) AS i)))",
                n = size / slide
            ),
        ),
    }
}

/// How many random cases per test (`FLOWSQL_ORACLE_CASES` / 10 overrides).
fn cases() -> u64 {
    std::env::var("FLOWSQL_ORACLE_CASES")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(20, |n| (n / 10).max(1))
}

/// Flink's window join, every join kind (inner, outer, and the semi and
/// anti joins written IN, EXISTS, NOT EXISTS), over the rows of each
/// side's window (TUMBLE or HOP) and over each side's windowed aggregates.
/// (NOT IN correlated on the window is refused, with a message: DataFusion
/// plans it as a null-aware anti join, of one column only.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_joins_equal_batch() {
    let mut rng = Rng(0x0010_1A5E);
    for case in 0..cases() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = engine(&mut rng, dir.path()).await;
        let slide = [250i64, 500, 1000][rng.below(3) as usize];
        let size = slide * (1 + rng.below(3) as i64);
        let slide = (rng.below(2) == 0).then_some(slide);
        let (ls, lb) = windows("s", "b", size, slide);
        let (rs, rb) = windows("t", "c", size, slide);
        let join = ["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"][rng.below(4) as usize];
        let semi = [
            "L.v IN (SELECT R.v FROM (SELECT * FROM RIGHT_ROWS) R \
             WHERE L.window_start = R.window_start AND L.window_end = R.window_end)",
            "EXISTS (SELECT 1 FROM (SELECT * FROM RIGHT_ROWS) R WHERE R.k = L.k \
             AND L.window_start = R.window_start AND L.window_end = R.window_end)",
            "NOT EXISTS (SELECT 1 FROM (SELECT * FROM RIGHT_ROWS) R WHERE R.k = L.k \
             AND L.window_start = R.window_start AND L.window_end = R.window_end)",
        ][rng.below(3) as usize];
        let template = if rng.below(3) == 0 {
            format!("SELECT L.k, L.v, L.window_start FROM (SELECT * FROM LEFT_ROWS) L WHERE {semi}")
        } else if rng.below(2) == 0 {
            format!(
                "SELECT L.k AS lk, L.v AS lv, R.k AS rk, R.v AS rv,
                   COALESCE(L.window_start, R.window_start) AS window_start
                 FROM (SELECT * FROM LEFT_ROWS) L {join} (SELECT * FROM RIGHT_ROWS) R
                 ON L.k = R.k AND L.window_start = R.window_start AND L.window_end = R.window_end
                   AND L.v >= R.v"
            )
        } else {
            format!(
                "SELECT L.k, L.n, L.total, R.n AS rn, L.window_start, R.window_end
                 FROM (SELECT window_start, window_end, k, COUNT(*) AS n, SUM(v) AS total
                       FROM LEFT_ROWS GROUP BY window_start, window_end, k) L
                 {join} (SELECT window_start, window_end, k, COUNT(*) AS n
                       FROM RIGHT_ROWS GROUP BY window_start, window_end, k) R
                 ON L.k = R.k AND L.window_start = R.window_start AND L.window_end = R.window_end"
            )
        };
        let streaming = template
            .replace("LEFT_ROWS", &ls)
            .replace("RIGHT_ROWS", &rs);
        let batch = template
            .replace("LEFT_ROWS", &lb)
            .replace("RIGHT_ROWS", &rb);
        assert_same(&engine, &streaming, &batch, &format!("case {case}")).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = engine(&mut rng, dir.path()).await;
    let (ls, _) = windows("s", "b", 1000, None);
    let (rs, _) = windows("t", "c", 1000, None);
    let not_in = format!(
        "SELECT L.k FROM {ls} L WHERE L.v NOT IN (SELECT R.v FROM {rs} R \
         WHERE L.window_start = R.window_start AND L.window_end = R.window_end)"
    );
    let refused = engine.query(&not_in).await.err().unwrap().to_string();
    assert!(refused.contains("write NOT EXISTS"), "{refused}");
}

/// A window over a view that is a UNION ALL of two streams (its watermark
/// the least of theirs), and a UNION ALL of two windows of different sizes
/// over one stream and over the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_over_a_union_and_several_windows_equal_batch() {
    let mut rng = Rng(0x0000_0210);
    for case in 0..cases() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = engine(&mut rng, dir.path()).await;
        engine
            .execute(
                "CREATE TEMPORARY VIEW st AS SELECT k, v, ts FROM s UNION ALL SELECT k, v * 10, ts FROM t;
                 CREATE TEMPORARY VIEW bc_ms AS SELECT k, v, ts, ms FROM b_ms
                   UNION ALL SELECT k, v * 10, ts, ms FROM c_ms;",
            )
            .await
            .unwrap();
        let size = [250i64, 500, 1000][rng.below(3) as usize];
        let (union_s, union_b) = windows("st", "bc", size, None);
        let aggregate = "SELECT window_start, k, COUNT(*) AS n, SUM(v) AS total FROM ROWS \
                         GROUP BY window_start, window_end, k";
        assert_same(
            &engine,
            &aggregate.replace("ROWS", &union_s),
            &aggregate.replace("ROWS", &union_b),
            &format!("case {case}: a window over a UNION ALL"),
        )
        .await;

        let other = size * [2i64, 3][rng.below(2) as usize];
        let (small_s, small_b) = windows("s", "b", size, None);
        let (large_s, large_b) = windows("s", "b", other, Some(size));
        let (other_s, other_b) = windows("t", "c", size, None);
        let branch = |name: &str, rows: &str| {
            format!(
                "SELECT '{name}' AS w, window_start, window_end, k, COUNT(*) AS n, MAX(v) AS top \
                 FROM {rows} GROUP BY window_start, window_end, k"
            )
        };
        let streaming = format!(
            "{} UNION ALL {} UNION ALL {}",
            branch("small", &small_s),
            branch("large", &large_s),
            branch("other", &other_s)
        );
        let batch = format!(
            "{} UNION ALL {} UNION ALL {}",
            branch("small", &small_b),
            branch("large", &large_b),
            branch("other", &other_b)
        );
        assert_same(
            &engine,
            &streaming,
            &batch,
            &format!("case {case}: windows of different sizes"),
        )
        .await;
    }
}

/// With `table.exec.source.idle-timeout`, a stream that sends nothing (a
/// watched, empty directory) stops holding back a window over its UNION
/// ALL with another: the other's windows come out as its watermark passes
/// them, equal to the batch answer over the windows it closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stream_stops_holding_back_the_watermark() {
    use futures::StreamExt;
    let mut rng = Rng(0x1D1E);
    let dir = tempfile::tempdir().unwrap();
    let (engine, delays) = engine(&mut rng, dir.path()).await;
    let quiet = dir.path().join("quiet");
    std::fs::create_dir_all(&quiet).unwrap();
    engine
        .execute(&format!(
            "CREATE TABLE quiet (k BIGINT, v BIGINT, ts TIMESTAMP(3),
               WATERMARK FOR ts AS ts - INTERVAL '1' MILLISECOND)
             WITH ('connector' = 'filesystem', 'path' = '{}/', 'format' = 'csv',
                   'source.monitor-interval' = '20ms');
             CREATE TEMPORARY VIEW sq AS SELECT k, v, ts FROM s UNION ALL SELECT k, v, ts FROM quiet;
             SET 'table.exec.source.idle-timeout' = '100 ms';",
            quiet.display()
        ))
        .await
        .unwrap();
    let (rows, bounded) = windows("sq", "b", 500, None);
    let aggregate = format!(
        "SELECT window_start, k, COUNT(*) AS n, SUM(v) AS total FROM {rows} \
         GROUP BY window_start, window_end, k"
    );
    // The windows `s`'s last watermark closed (`s` ends, `quiet` never
    // does, so later windows stay open).
    let batch = format!(
        "SELECT window_start, k, COUNT(*) AS n, SUM(v) AS total FROM {bounded} \
         WHERE CAST(window_end AS BIGINT) <= (SELECT MAX(ms) FROM b_ms) - {} \
         GROUP BY window_start, window_end, k",
        delays[0]
    );
    let want = sorted_rows(&engine.query(&batch).await.unwrap().collect().await.unwrap());
    assert!(!want.is_empty());
    let mut stream = engine.query(&aggregate).await.unwrap();
    let mut got = Vec::new();
    while got.len() < want.len() {
        let next = tokio::time::timeout(std::time::Duration::from_secs(120), stream.next());
        let batch = next
            .await
            .expect("the idle stream held the windows back")
            .expect("the stream never ends")
            .unwrap();
        got.extend(sorted_rows(&[batch]));
    }
    got.sort();
    assert_eq!(got, want);
}

/// Joins of a stream with a bounded table (the enrichment join: a file
/// table without a WATERMARK, read once into a hash table), INNER and LEFT,
/// the table on either side, with a residual condition and a filter above,
/// two in a row, and aggregated after (an updating result, folded):
/// equal to the same join of the batch table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_with_a_bounded_table_equal_batch() {
    let mut rng = Rng(0xD1);
    for case in 0..cases() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = engine(&mut rng, dir.path()).await;
        // Some keys twice, some not at all, one NULL key.
        let mut text = String::from("id,label,weight\n,nobody,0\n");
        for id in 1..=6u64 {
            for copy in 0..rng.below(3).max(u64::from(id == 1)) {
                text.push_str(&format!("{id},key{id}-{copy},{}\n", rng.below(50)));
            }
        }
        let dim = dir.path().join("dim.csv");
        std::fs::write(&dim, text).unwrap();
        engine
            .execute(&format!(
                "CREATE TABLE dim (id BIGINT, label VARCHAR, weight BIGINT)
                 WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv')",
                dim.display()
            ))
            .await
            .unwrap();
        let template = [
            "SELECT S.k, S.v, D.label, D.weight FROM ROWS S JOIN dim D ON S.k = D.id",
            "SELECT S.k, S.v, D.label FROM ROWS S LEFT JOIN dim D ON S.k = D.id AND D.weight > S.v",
            "SELECT D.label, S.v * 2 AS v2 FROM dim D JOIN (SELECT k, v FROM ROWS WHERE v % 3 <> 0) S \
             ON D.id = S.k WHERE D.weight < 40",
            "SELECT S.k, D.label FROM dim D RIGHT JOIN ROWS S ON D.id = S.k + 1",
            // Two lookups in a row.
            "SELECT S.k, D.label, E.label FROM ROWS S JOIN dim D ON S.k = D.id \
             LEFT JOIN dim E ON D.id = E.id AND E.weight > 10",
            // Aggregated after the lookup (updating).
            "SELECT D.label, COUNT(*) AS n, SUM(S.v) AS total FROM ROWS S JOIN dim D \
             ON S.k = D.id GROUP BY D.label",
            "SELECT S.k, MAX(D.weight) AS top, COUNT(D.label) AS labels FROM ROWS S \
             LEFT JOIN dim D ON S.k = D.id WHERE S.v > 5 GROUP BY S.k HAVING COUNT(*) > 1",
        ][rng.below(7) as usize];
        let streaming = template.replace("ROWS", "s");
        let batch = template.replace("ROWS", "b");
        if template.contains("GROUP BY") {
            let stream = engine.query(&streaming).await.unwrap();
            assert_eq!(stream.schema().field(0).name(), "op", "{streaming}");
            let got = common::folded_changelog(&stream.collect().await.unwrap());
            let want = sorted_rows(&engine.query(&batch).await.unwrap().collect().await.unwrap());
            assert!(!want.is_empty(), "case {case}: {batch}");
            assert_eq!(got, want, "case {case}: {streaming}");
            continue;
        }
        assert_same(&engine, &streaming, &batch, &format!("case {case}")).await;
    }
}

/// Joins of two streams outside a window: interval joins (BETWEEN, and the
/// `>=`/`<` form), inner and outer, and a regular inner join with a filter
/// above, equal to the same join of the batch tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_and_regular_joins_equal_batch() {
    let mut rng = Rng(0x1_17E5);
    for case in 0..cases() {
        let dir = tempfile::tempdir().unwrap();
        // Small files, so rows are dropped soon after their bound passes.
        let (engine, _) = engine_with_files(&mut rng, dir.path(), 1..12).await;
        let before = [0i64, 200, 1000][rng.below(3) as usize];
        let after = [0i64, 300, 2000][rng.below(3) as usize];
        let join = ["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"][rng.below(4) as usize];
        let template = match rng.below(4) {
            // Flink's docs write it as a comma join, the condition in WHERE.
            3 => format!(
                "SELECT L.k, L.v, R.v AS rv FROM LEFT_ROWS L, RIGHT_ROWS R
                 WHERE L.k = R.k AND L.ts BETWEEN R.ts - INTERVAL '{}' MILLISECOND AND R.ts",
                before.max(500)
            ),
            0 => format!(
                "SELECT L.k, L.v, R.v AS rv, L.ts, R.ts AS rts FROM LEFT_ROWS L {join} RIGHT_ROWS R
                 ON L.k = R.k AND L.ts BETWEEN R.ts - INTERVAL '{before}' MILLISECOND
                                          AND R.ts + INTERVAL '{after}' MILLISECOND"
            ),
            1 => format!(
                "SELECT L.k, L.v, R.v AS rv FROM LEFT_ROWS L {join} RIGHT_ROWS R
                 ON L.k = R.k AND R.ts >= L.ts - INTERVAL '{before}' MILLISECOND
                   AND R.ts < L.ts + INTERVAL '{after}' MILLISECOND AND L.v <> R.v"
            ),
            _ => "SELECT L.k, L.v + R.v AS total FROM LEFT_ROWS L JOIN RIGHT_ROWS R
                  ON L.k = R.k AND L.v < R.v WHERE L.v + R.v > 30"
                .to_string(),
        };
        let streaming = template
            .replace("LEFT_ROWS", "s")
            .replace("RIGHT_ROWS", "t");
        let batch = template
            .replace("LEFT_ROWS", "b")
            .replace("RIGHT_ROWS", "c");
        assert_same(&engine, &streaming, &batch, &format!("case {case}")).await;
    }
}

/// Runs `template` with LEFT_ROWS, RIGHT_ROWS as the streams `s`, `t` and
/// as the bounded tables `b`, `c`: the stream's result is updating, and
/// its changelog folds to the batch rows (not none).
async fn assert_folds_to_batch(engine: &Engine, template: &str, case: u64) {
    let streaming = template
        .replace("LEFT_ROWS", "s")
        .replace("RIGHT_ROWS", "t");
    let batch = template
        .replace("LEFT_ROWS", "b")
        .replace("RIGHT_ROWS", "c");
    let stream = engine.query(&streaming).await.unwrap();
    assert_eq!(stream.schema().field(0).name(), "op", "{streaming}");
    let got = common::folded_changelog(&stream.collect().await.unwrap());
    let want = sorted_rows(&engine.query(&batch).await.unwrap().collect().await.unwrap());
    assert!(!want.is_empty(), "case {case}: {batch}");
    assert_eq!(got, want, "case {case}: {streaming}");
}

/// Regular outer joins of two streams (no time bounds): updating, each
/// outer row emitted NULL-padded at once and taken back at its first
/// match; with a condition on the pair, and aggregated after. The folded
/// changelog equals the batch join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regular_outer_joins_fold_to_the_batch_join() {
    let mut rng = Rng(0x0_07E2);
    for case in 0..cases() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = engine_with_files(&mut rng, dir.path(), 1..40).await;
        let join = ["LEFT JOIN", "RIGHT JOIN", "FULL JOIN"][rng.below(3) as usize];
        let template = match rng.below(3) {
            0 => format!(
                "SELECT L.k, L.v, R.v AS rv FROM LEFT_ROWS L {join} RIGHT_ROWS R ON L.k = R.k"
            ),
            1 => format!(
                "SELECT L.v, R.k, R.v AS rv FROM LEFT_ROWS L {join} RIGHT_ROWS R
                 ON L.k = R.k AND L.v + 10 < R.v"
            ),
            _ => "SELECT L.k, COUNT(R.v) AS matched, COUNT(*) AS n, MAX(R.v) AS top
                  FROM LEFT_ROWS L LEFT JOIN RIGHT_ROWS R ON L.k = R.k AND L.v < R.v GROUP BY L.k"
                .to_string(),
        };
        assert_folds_to_batch(&engine, &template, case).await;
    }
}

/// Regular joins whose inputs are themselves updating (each side an
/// unbounded GROUP BY, or one side a GROUP BY and the other a stream), of
/// every kind, with a condition on the pair and aggregated after: each
/// side's retractions take its held rows back and retract what they were
/// joined into. The folded changelog equals the batch join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_of_updating_inputs_fold_to_the_batch_join() {
    let mut rng = Rng(0x0_0A66);
    for case in 0..cases() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = engine_with_files(&mut rng, dir.path(), 1..40).await;
        let join = ["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"][rng.below(4) as usize];
        let counts = "(SELECT k, v % 3 AS m, COUNT(*) AS n FROM LEFT_ROWS GROUP BY k, v % 3)";
        let tops = "(SELECT k, MAX(v) AS top, SUM(v) AS total FROM RIGHT_ROWS GROUP BY k)";
        let template = match rng.below(3) {
            0 => format!(
                "SELECT A.k, A.m, A.n, B.top, B.total FROM {counts} A {join} {tops} B ON A.k = B.k"
            ),
            1 => format!(
                "SELECT L.k, L.v, B.top FROM LEFT_ROWS L {join} {tops} B
                 ON L.k = B.k AND L.v + 5 < B.top"
            ),
            _ => format!(
                "SELECT A.n, COUNT(*) AS pairs, SUM(B.total) AS total
                 FROM {counts} A {join} {tops} B ON A.k = B.k GROUP BY A.n"
            ),
        };
        assert_folds_to_batch(&engine, &template, case).await;
    }
}

/// An interval join's state is the rows within its bounds of the
/// watermark (held in arrival batches, each dropped once all its rows are
/// past): on a long input (two Nexmark bid streams) the most rows held at
/// once is a small part of the input, and no more at four times the length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_join_state_stays_flat_on_a_long_input() {
    let mut held = Vec::new();
    for events in [150_000u64, 600_000] {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::builder()
            .data_dir(dir.path())
            .build()
            .await
            .unwrap();
        for (name, seed) in [("bid", 1), ("other", 2)] {
            engine
                .execute(&format!(
                    "CREATE TABLE {name} (auction BIGINT, bidder BIGINT, price BIGINT,
                       date_time TIMESTAMP(3),
                       WATERMARK FOR date_time AS date_time - INTERVAL '10' MILLISECOND)
                     WITH ('connector' = 'nexmark', 'table' = 'bid', 'events' = '{events}',
                           'seed' = '{seed}')"
                ))
                .await
                .unwrap();
        }
        let stream = engine
            .query(
                "SELECT b.auction, b.price, o.price FROM bid b JOIN other o
                 ON b.auction = o.auction AND b.bidder = o.bidder
                 AND b.date_time BETWEEN o.date_time - INTERVAL '100' MILLISECOND
                                     AND o.date_time + INTERVAL '100' MILLISECOND",
            )
            .await
            .unwrap();
        let metrics = stream.metrics().unwrap();
        stream.collect().await.unwrap();
        let most = metrics.max_held_rows() as u64;
        assert!(
            most * 4 < metrics.rows_in(),
            "{most} rows held of {} read: the state is not freed",
            metrics.rows_in()
        );
        held.push(most);
    }
    assert!(
        held[1] < held[0] * 2,
        "the state grew with the input: {held:?} rows held at most"
    );
}

/// `table.exec.state.ttl` bounds a regular join's state: a row held longer
/// than the TTL (from its arrival, as Flink's TTL counts from a row's
/// write) is forgotten, and a row arriving later finds nothing to join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_ttl_forgets_a_regular_joins_rows() {
    use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, TimestampMillisecondArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use futures::StreamExt;
    use std::sync::Arc;
    use std::time::Duration;

    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
    ]));
    let one = |ts: i64| {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![7])),
            Arc::new(TimestampMillisecondArray::from(vec![ts])),
        ];
        RecordBatch::try_new(Arc::clone(&schema), columns).unwrap()
    };
    for (ttl, pairs) in [("0", 1), ("10 ms", 0)] {
        let engine = Engine::new().await.unwrap();
        engine
            .execute(&format!("SET 'table.exec.state.ttl' = '{ttl}'"))
            .await
            .unwrap();
        let first = futures::stream::iter([Ok(one(1_000))]);
        // The other side's row comes 300 ms later.
        let later = futures::stream::iter([one(2_000)]).then(|batch| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(batch)
        });
        let delay = Duration::from_secs(1);
        engine
            .register_stream("a", Arc::clone(&schema), "ts", delay, first)
            .unwrap();
        engine
            .register_stream("b", Arc::clone(&schema), "ts", delay, later)
            .unwrap();
        let joined = engine
            .query("SELECT a.k, b.ts FROM a JOIN b ON a.k = b.k")
            .await
            .unwrap();
        let rows: usize = joined
            .collect()
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(rows, pairs, "ttl {ttl}");
    }
}

/// Temporal joins (`FOR SYSTEM_TIME AS OF` a versioned stream's event
/// time), inner and left, with and without a condition on the version:
/// each probe row joins its key's latest version at or before its time.
/// The batch query finds that version's time with a GROUP BY, then joins
/// it. Probe rows have distinct values (so each is one group); no key has
/// two versions at one time (so the version at a time is one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporal_joins_equal_batch() {
    let mut rng = Rng(0x7E_3B0);
    for case in 0..cases() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::builder()
            .data_dir(dir.path())
            .build()
            .await
            .unwrap();
        let mut ddl = String::new();
        for (stream, bounded, key) in [
            ("p", "pb", ""),
            ("versions", "vb", ", PRIMARY KEY (k) NOT ENFORCED"),
        ] {
            let delay = [1i64, 300, 1500][rng.below(3) as usize];
            let mut rows = generate(&mut rng, delay);
            if stream == "p" {
                for (i, row) in rows.iter_mut().enumerate() {
                    row.1 = i as u64;
                }
            } else {
                let mut seen = std::collections::HashSet::new();
                rows.retain(|(k, _, ts)| seen.insert((*k, *ts)));
            }
            let files = dir.path().join(stream);
            write_files(&files, &rows, 1 + rng.below(40) as usize);
            let path = format!("{}/", files.display());
            ddl.push_str(&format!(
                "CREATE TABLE {stream} (k BIGINT, v BIGINT, ts TIMESTAMP(3),
                   WATERMARK FOR ts AS ts - INTERVAL '{delay}' MILLISECOND{key})
                 WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'csv');
                 CREATE TABLE {bounded} (k BIGINT, v BIGINT, ts TIMESTAMP(3))
                 WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'csv');"
            ));
        }
        engine.execute(&ddl).await.unwrap();
        let left = rng.below(2) == 0;
        let join = if left { "LEFT JOIN" } else { "JOIN" };
        let (streaming, condition) = match rng.below(3) {
            0 => (
                format!(
                    "SELECT p.k, p.v, r.v AS rv, p.ts FROM p {join} versions FOR SYSTEM_TIME \
                     AS OF p.ts AS r ON p.k = r.k"
                ),
                "",
            ),
            1 => (
                format!(
                    "SELECT p.k, p.v, r.v AS rv, p.ts FROM p {join} versions FOR SYSTEM_TIME \
                     AS OF p.ts AS r ON p.k = r.k AND r.v > p.v % 50"
                ),
                " AND r.v > p.v % 50",
            ),
            _ => (
                format!(
                    "SELECT p.k, p.v, versions.v AS rv, p.ts FROM p {join} versions FOR \
                     SYSTEM_TIME AS OF p.ts ON versions.k = p.k WHERE p.v % 3 <> 0"
                ),
                "",
            ),
        };
        let filter = match streaming.contains("WHERE") {
            true => " WHERE p.v % 3 <> 0",
            false => "",
        };
        let batch = format!(
            "WITH picked AS (
               SELECT p.v AS id, MAX(r.ts) AS vts FROM pb p JOIN vb r ON p.k = r.k AND r.ts <= p.ts
               GROUP BY p.v)
             SELECT p.k, p.v, r.v AS rv, p.ts FROM pb p LEFT JOIN picked ON p.v = picked.id
             {join} vb r ON r.k = p.k AND r.ts = picked.vts{condition}{filter}"
        );
        assert_same(&engine, &streaming, &batch, &format!("case {case}")).await;
    }
}
