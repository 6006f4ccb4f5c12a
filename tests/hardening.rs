//! Trust under hostile input and faults, through the Engine: a panic in a
//! query, a job or an operator is an error (never a silent end of rows);
//! SESSION without PARTITION BY works; checkpoint directories do not pile
//! up.

mod common;

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{DataType, UInt64Type};
use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
use flowsql::JobState;
use flowsql::{Engine, Error};

async fn run(engine: &Engine, sql: &str) -> Vec<String> {
    common::sorted_rows(&engine.query(sql).await.unwrap().collect().await.unwrap())
}

/// An engine with the bundled bids as stream `bids` and table `bounded`,
/// and `boom(x)`, a function that panics.
async fn engine(dir: &std::path::Path) -> Engine {
    let engine = common::engine_in(dir).await;
    engine.execute(common::BIDS_STREAM).await.unwrap();
    engine.execute(common::BIDS_BOUNDED).await.unwrap();
    let boom = create_udf(
        "boom",
        vec![DataType::Float64],
        DataType::Float64,
        Volatility::Immutable,
        Arc::new(|_: &[ColumnarValue]| panic!("boom was called")),
    );
    engine.session_context().register_udf(boom);
    engine
}

async fn error_of(engine: &Engine, sql: &str) -> Error {
    match engine.query(sql).await {
        Ok(stream) => stream.collect().await.expect_err(sql),
        Err(e) => e,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_query_is_an_internal_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    for sql in [
        // A batch query (DataFusion re-raises its task's panic).
        "SELECT boom(price) FROM bounded",
        // A stream's per-batch operator.
        "SELECT boom(price) FROM bids",
        // A window's emission plan.
        "SELECT window_start, SUM(boom(price)) FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end",
    ] {
        let err = error_of(&engine, sql).await;
        assert!(matches!(err, Error::Internal(_)), "{sql}: {err:?}");
        let text = err.to_string();
        assert!(
            text.contains("panicked") && text.contains("boom was called"),
            "{sql}: {text}"
        );
    }
    // The engine goes on.
    assert_eq!(run(&engine, "SELECT COUNT(*) FROM bounded").await, ["1000"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_job_fails_it() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    for source in ["bids", "bounded"] {
        engine
            .execute(&format!(
                "CREATE OR REPLACE TABLE out (p DOUBLE) WITH ('connector' = 'filesystem', \
                 'path' = '{}/{source}', 'format' = 'csv');
                 INSERT INTO out SELECT boom(price) FROM {source}",
                dir.path().display()
            ))
            .await
            .unwrap();
    }
    let jobs = engine.jobs().wait_all().await;
    assert_eq!(jobs.len(), 2);
    for job in jobs {
        match &job.state {
            JobState::Failed(error) => assert!(error.contains("boom was called"), "{error}"),
            other => panic!("job {} is {other:?}", job.id),
        }
    }
}

/// SESSION without PARTITION BY is one sequence of sessions over the whole
/// stream (Flink 1.19+): equal to sessions cut where the gap between two
/// consecutive bids exceeds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_without_partition_by_equal_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let streaming = run(
        &engine,
        "SELECT window_start, window_end, COUNT(*), SUM(price)
         FROM TABLE(SESSION(TABLE bids, DESCRIPTOR(ts), INTERVAL '400' MILLISECOND))
         GROUP BY window_start, window_end",
    )
    .await;
    let grouped = run(
        &engine,
        "SELECT SESSION_START(ts, INTERVAL '400' MILLISECOND), SESSION_END(ts, INTERVAL '400' MILLISECOND),
                COUNT(*), SUM(price)
         FROM bids GROUP BY SESSION(ts, INTERVAL '400' MILLISECOND)",
    )
    .await;
    let batch = run(
        &engine,
        "WITH marked AS (
           SELECT ts, price,
             CASE WHEN ts - LAG(ts) OVER (ORDER BY ts) <= INTERVAL '400' MILLISECOND THEN 0 ELSE 1 END AS new_session
           FROM bounded
         ),
         numbered AS (
           SELECT ts, price, SUM(new_session) OVER (ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS session
           FROM marked
         )
         SELECT MIN(ts), MAX(ts) + INTERVAL '400' MILLISECOND, COUNT(*), SUM(price)
         FROM numbered GROUP BY session",
    )
    .await;
    assert!(batch.len() > 50, "{}", batch.len());
    assert_eq!(streaming, batch);
    assert_eq!(grouped, batch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_checkpoint_directories_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    engine
        .execute(&format!(
            "SET 'execution.checkpointing.interval' = '1ms';
             SET 'pipeline.name' = 'pruned';
             CREATE TABLE out (auction BIGINT, n BIGINT) WITH ('connector' = 'filesystem', \
             'path' = '{}/out', 'format' = 'csv');
             INSERT INTO out SELECT auction, COUNT(*) FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), \
             INTERVAL '10' SECOND)) GROUP BY window_start, window_end, auction",
            dir.path().display()
        ))
        .await
        .unwrap();
    let jobs = engine.jobs().wait_all().await;
    assert_eq!(jobs[0].state, JobState::Finished);
    let taken = jobs[0].last_checkpoint.expect("checkpoints were taken").id;
    assert!(taken >= 2, "{taken}");
    let checkpoints: Vec<String> = std::fs::read_dir(dir.path().join("checkpoints/pruned"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(checkpoints.len(), 2, "{checkpoints:?}");
    // SHOW JOBS reads the same.
    let shown = engine
        .query("SHOW JOBS")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let last = shown[0].column(shown[0].schema().index_of("last_checkpoint").unwrap());
    assert_eq!(last.as_primitive::<UInt64Type>().value(0), taken);
}

/// A checkpoint belongs to its query and to the definitions of the tables
/// it reads: a redefined source (another seed, other types) does not resume
/// it, and the error says how to start afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redefined_source_does_not_resume_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let define = |seed: u32, price: &str| {
        format!(
            "CREATE OR REPLACE TABLE gen (auction BIGINT, price {price}, date_time TIMESTAMP(3)) \
             WITH ('connector' = 'nexmark', 'table' = 'bid', 'events' = '2000', 'seed' = '{seed}')"
        )
    };
    let insert = "INSERT INTO nowhere SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE gen, \
                  DESCRIPTOR(date_time), INTERVAL '1' SECOND)) GROUP BY window_start, window_end";
    engine
        .execute(
            "SET 'execution.checkpointing.interval' = '1ms';
             SET 'pipeline.name' = 'fingerprinted';
             CREATE TABLE nowhere (ws TIMESTAMP(3), n BIGINT) WITH ('connector' = 'blackhole')",
        )
        .await
        .unwrap();
    let run = |definition: String| {
        let engine = &engine;
        async move {
            engine.execute(&definition).await.unwrap();
            engine.execute(insert).await?;
            let jobs = engine.jobs().wait_all().await;
            match &jobs.last().unwrap().state {
                JobState::Finished => Ok::<(), Error>(()),
                other => panic!("{other:?}"),
            }
        }
    };
    run(define(1, "BIGINT")).await.unwrap();
    // The same definitions resume.
    run(define(1, "BIGINT")).await.unwrap();
    for changed in [define(2, "BIGINT"), define(1, "DOUBLE")] {
        let err = run(changed).await.unwrap_err().to_string();
        assert!(
            err.contains("over tables defined differently") && err.contains("to start afresh"),
            "{err}"
        );
    }
}

/// Writes CSV files whose headers order the columns differently, beside
/// files a reader must pass over: hidden ones (a sink's in-progress and
/// pending files, `.hidden.csv`), `_SUCCESS`, another format's, and a
/// subdirectory's. Each visible row i has auction i, price i / 4, and ts
/// i seconds after 2026-01-01 10:00.
fn mixed_csv_directory(dir: &std::path::Path) {
    let row = |i: u32, order: &[&str]| -> String {
        let cells: Vec<String> = order
            .iter()
            .map(|c| match *c {
                "auction" => i.to_string(),
                "price" => format!("{}", f64::from(i) / 4.0),
                _ => format!("2026-01-01T10:{:02}:{:02}", i / 60, i % 60),
            })
            .collect();
        cells.join(",")
    };
    let write = |name: &str, order: &[&str], rows: std::ops::Range<u32>| {
        let mut text = order.join(",") + "\n";
        for i in rows {
            text += &(row(i, order) + "\n");
        }
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("a.csv", &["auction", "price", "ts"], 0..100);
    write("b.csv", &["price", "ts", "auction"], 100..200);
    write("c.csv", &["ts", "auction", "price"], 200..300);
    for hidden in [
        ".hidden.csv",
        ".part-1-00003.csv.inprogress",
        "_SUCCESS",
        "notes.txt",
        "sub/d.csv",
    ] {
        write(hidden, &["auction", "price", "ts"], 1000..1010);
    }
}

/// A bounded CSV directory matches columns by name in every file, and reads
/// the same files as a stream over it: hidden files, other formats and
/// subdirectories are passed over by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_directories_are_read_by_name_and_skip_hidden_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("csv");
    mixed_csv_directory(&data);
    let engine = common::engine_in(dir.path()).await;
    let columns = "auction BIGINT, price DOUBLE, ts TIMESTAMP(3)";
    let with = format!(
        "WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv')",
        data.display()
    );
    engine
        .execute(&format!(
            "CREATE TABLE bounded ({columns}) {with};
             CREATE TABLE stream ({columns}, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) {with}"
        ))
        .await
        .unwrap();
    // Computed from how the rows were made: auction i, price i / 4.
    let expected = format!(
        "300 | {} | {}",
        (0..300).sum::<u32>(),
        f64::from((0..300).sum::<u32>()) / 4.0
    );
    assert_eq!(
        run(
            &engine,
            "SELECT COUNT(*), SUM(auction), SUM(price) FROM bounded"
        )
        .await,
        [expected]
    );
    // 1767261600: 2026-01-01 10:00:00 UTC in epoch seconds.
    let check = "SELECT auction, price, ts FROM bounded WHERE price * 4 <> auction \
                 OR ts <> to_timestamp_millis((1767261600 + auction) * 1000)";
    assert!(run(&engine, check).await.is_empty());
    let bounded = run(&engine, "SELECT * FROM bounded").await;
    let streamed = run(&engine, "SELECT * FROM stream").await;
    assert_eq!(bounded.len(), 300);
    assert_eq!(streamed, bounded);
}

/// The filesystem sink's hidden files are not read by a reader of its
/// directory, bounded or streaming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_skip_a_sinks_unpublished_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let engine = engine(dir.path()).await;
    engine
        .execute(&format!(
            "CREATE TABLE sink (auction BIGINT, price DOUBLE, ts TIMESTAMP(3)) WITH \
             ('connector' = 'filesystem', 'path' = '{}', 'format' = 'parquet');
             INSERT INTO sink SELECT * FROM (SELECT auction, price, ts FROM bounded)",
            out.display()
        ))
        .await
        .unwrap();
    engine.jobs().wait_all().await;
    // Unpublished copies of the same rows, as a running or failed job leaves.
    let published = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for hidden in [
        ".part-9-00000.parquet.inprogress",
        ".part-9-00001.parquet.pending",
        ".copy.parquet",
    ] {
        std::fs::copy(&published, out.join(hidden)).unwrap();
    }
    engine
        .execute(&format!(
            "CREATE TABLE reread (auction BIGINT, price DOUBLE, ts TIMESTAMP(3)) WITH \
             ('connector' = 'filesystem', 'path' = '{0}', 'format' = 'parquet');
             CREATE TABLE restream (auction BIGINT, price DOUBLE, ts TIMESTAMP(3), \
             WATERMARK FOR ts AS ts) WITH ('connector' = 'filesystem', 'path' = '{0}', 'format' = 'parquet')",
            out.display()
        ))
        .await
        .unwrap();
    assert_eq!(run(&engine, "SELECT COUNT(*) FROM reread").await, ["1000"]);
    assert_eq!(run(&engine, "SELECT * FROM restream").await.len(), 1000);
}

/// A row of a stream whose event time is NULL is dropped and counted as
/// malformed, for every query over the stream alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_without_event_time_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("auction,ts\n");
    for i in 0..50 {
        let ts = if i % 5 == 0 {
            String::new()
        } else {
            format!("2026-01-01T10:00:{i:02}")
        };
        text += &format!("{i},{ts}\n");
    }
    std::fs::write(dir.path().join("rows.csv"), text).unwrap();
    let engine = common::engine_in(dir.path()).await;
    engine
        .execute(&format!(
            "CREATE TABLE s (auction BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts) WITH \
             ('connector' = 'filesystem', 'path' = '{}/rows.csv', 'format' = 'csv')",
            dir.path().display()
        ))
        .await
        .unwrap();
    for sql in [
        "SELECT auction FROM s",
        "SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE s, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY window_start, window_end",
    ] {
        let stream = engine.query(sql).await.unwrap();
        let metrics = stream.metrics().unwrap();
        let batches = stream.collect().await.unwrap();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(metrics.malformed(), 10, "{sql}");
        assert_eq!(metrics.rows_in(), 50, "{sql}");
        if sql.contains("TUMBLE") {
            let counted: i64 = batches
                .iter()
                .map(|b| b.column(1).as_primitive::<datafusion::arrow::datatypes::Int64Type>().iter().flatten().sum::<i64>())
                .sum();
            assert_eq!(counted, 40);
        } else {
            assert_eq!(rows, 40);
        }
    }
}

/// Long flat chains of operators work up to the limit and fail cleanly
/// past it (8,000 terms aborted the process with a stack overflow); this
/// runs on a test thread's small stack, as an embedding program's task may.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_operator_chains_work_or_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine_in(dir.path()).await;
    let limit = flowsql::sql::split::MAX_OPERATOR_CHAIN;
    let sum = |terms: usize| format!("SELECT {} AS n", vec!["1"; terms].join(" + "));
    assert_eq!(
        run(&engine, &sum(limit + 1)).await,
        [(limit + 1).to_string()]
    );
    let ors = format!(
        "SELECT {} AS b",
        vec!["false"; limit].join(" OR ") + " OR true"
    );
    assert_eq!(run(&engine, &ors).await, ["true"]);
    // The same number of operators, but in parentheses of their own.
    let grouped = format!("SELECT {} AS n", vec!["(1 + 1)"; limit].join(" + "));
    assert_eq!(run(&engine, &grouped).await, [(2 * limit).to_string()]);
    for sql in [
        sum(8_000),
        format!("SELECT {}", vec!["true"; 10_000].join(" OR ")),
        format!("SELECT {}", vec!["'a'"; 10_000].join(" || ")),
    ] {
        let err = error_of(&engine, &sql).await.to_string();
        assert!(
            err.contains(&format!("chains more than {limit} operators")),
            "{err}"
        );
    }
}

/// A view over a stream is a stream: reading it runs its query per batch
/// (it said "writing a stream into a table is not supported").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_over_a_stream_streams() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    engine
        .execute("CREATE VIEW cheap AS SELECT auction, price FROM bids WHERE price < 50")
        .await
        .unwrap();
    let stream = engine.query("SELECT * FROM cheap").await.unwrap();
    assert!(stream.is_streaming());
    let streamed = common::sorted_rows(&stream.collect().await.unwrap());
    let batch = run(
        &engine,
        "SELECT auction, price FROM bounded WHERE price < 50",
    )
    .await;
    assert!(streamed.len() > 10, "{}", streamed.len());
    assert_eq!(streamed, batch);
}

/// Streaming state counts against DataFusion's memory pool: past
/// `datafusion.runtime.memory_limit` the query fails naming the operator
/// and the setting (it grew without bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_state_is_bounded_by_the_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine_in(dir.path()).await;
    engine
        .execute(
            "SET 'datafusion.runtime.memory_limit' = '2M';
             CREATE TABLE gen (auction BIGINT, price BIGINT, extra VARCHAR, date_time TIMESTAMP(3))
             WITH ('connector' = 'nexmark', 'table' = 'bid', 'events' = '1000000')",
        )
        .await
        .unwrap();
    for (sql, operator) in [
        // The window operator holds the rows of an hour's window.
        (
            "SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE gen, DESCRIPTOR(date_time), INTERVAL '1' HOUR))
             WHERE date_time > window_start GROUP BY window_start, window_end",
            "window",
        ),
        // Distinct rows pile up.
        ("SELECT DISTINCT auction, price, extra FROM gen", "distinct"),
    ] {
        let err = error_of(&engine, sql).await.to_string();
        assert!(err.contains("resources exhausted"), "{err}");
        assert!(err.contains("datafusion.runtime.memory_limit"), "{err}");
        assert!(err.contains(operator), "{err}");
    }
    // Within the limit, the same shapes run.
    engine
        .execute("SET 'datafusion.runtime.memory_limit' = '1G'")
        .await
        .unwrap();
    let rows = run(
        &engine,
        "SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE gen, DESCRIPTOR(date_time), INTERVAL '1' HOUR))
         WHERE date_time > window_start GROUP BY window_start, window_end",
    )
    .await;
    assert!(!rows.is_empty());
}

/// A CSV line with an unterminated quote is malformed, in a bounded table
/// and in a stream (it swallowed the rest of the file into one value).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unterminated_csv_quote_is_malformed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rows.csv"),
        "a,ts,b\n1,2026-01-01T10:00:00,x\n2,2026-01-01T10:00:01,\"unterminated\n3,2026-01-01T10:00:02,y\n",
    )
    .unwrap();
    let engine = common::engine_in(dir.path()).await;
    let with = format!(
        "WITH ('connector' = 'filesystem', 'path' = '{}/rows.csv', 'format' = 'csv')",
        dir.path().display()
    );
    engine
        .execute(&format!(
            "CREATE TABLE t (a BIGINT, b VARCHAR, ts TIMESTAMP(3)) {with};
             CREATE TABLE s (a BIGINT, b VARCHAR, ts TIMESTAMP(3), WATERMARK FOR ts AS ts) {with}"
        ))
        .await
        .unwrap();
    for sql in ["SELECT * FROM t", "SELECT * FROM s"] {
        let err = error_of(&engine, sql).await.to_string();
        assert!(
            err.contains("the value of column 'b' starting") && err.contains("runs across lines"),
            "{sql}: {err}"
        );
    }
}

/// A JSON file with a record nested 100,000 levels deep after the first
/// 1,500 (past DataFusion's schema sampling) where a number is declared:
/// Arrow's reader described the value recursively and overflowed the
/// stack, aborting the process. Now an error naming the file and line, in
/// a bounded table over the file or its directory and in a stream, on a
/// test thread's small stack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_json_files_are_errors_not_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let good = "{\"x\": 2, \"ts\": \"2026-01-01 10:00:00\"}\n".repeat(1500);
    let deep = format!(
        "{good}{{\"x\": {}{}, \"ts\": \"2026-01-01 10:00:01\"}}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    std::fs::create_dir(dir.path().join("json")).unwrap();
    std::fs::write(dir.path().join("json/a.json"), &deep).unwrap();
    let engine = common::engine_in(dir.path()).await;
    let at = |path: &str| {
        format!(
            "WITH ('connector' = 'filesystem', 'path' = '{}/{path}', 'format' = 'json')",
            dir.path().display()
        )
    };
    engine
        .execute(&format!(
            "CREATE TABLE one (x BIGINT, ts TIMESTAMP(3)) {};
             CREATE TABLE many (x BIGINT, ts TIMESTAMP(3)) {};
             CREATE TABLE s (x BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts) {}",
            at("json/a.json"),
            at("json"),
            at("json")
        ))
        .await
        .unwrap();
    for sql in ["SELECT x FROM one", "SELECT x FROM many", "SELECT x FROM s"] {
        let err = error_of(&engine, sql).await.to_string();
        assert!(
            err.contains("a.json' line 1501: the record is nested deeper than 1000 levels"),
            "{sql}: {err}"
        );
    }
    // Nesting within the limit in a column not declared is read as before.
    std::fs::write(
        dir.path().join("json/a.json"),
        format!(
            "{good}{{\"x\": 3, \"y\": {}{}}}\n",
            "[".repeat(999),
            "]".repeat(999)
        ),
    )
    .unwrap();
    assert_eq!(run(&engine, "SELECT sum(x) FROM many").await, ["3003"]);
}

/// CURRENT_WATERMARK(ts) is the watermark before the row's batch (NULL
/// before the first), and filters late rows as Flink's documentation
/// writes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn current_watermark_filters_late_rows() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("in");
    std::fs::create_dir(&files).unwrap();
    // File 1 raises the watermark to 10:00:09 (10 s, minus 1 s); file 2
    // holds a row behind it and one ahead.
    std::fs::write(
        files.join("1.csv"),
        "k,ts\n1,2026-01-01T10:00:00\n2,2026-01-01T10:00:10\n",
    )
    .unwrap();
    std::fs::write(
        files.join("2.csv"),
        "k,ts\n3,2026-01-01T10:00:05\n4,2026-01-01T10:00:20\n",
    )
    .unwrap();
    let engine = common::engine_in(dir.path()).await;
    engine
        .execute(&format!(
            "CREATE TABLE s (k BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
             WITH ('connector' = 'filesystem', 'path' = '{}/', 'format' = 'csv')",
            files.display()
        ))
        .await
        .unwrap();
    assert_eq!(
        run(&engine, "SELECT k, CURRENT_WATERMARK(ts) FROM s").await,
        [
            "1 | ",
            "2 | ",
            "3 | 2026-01-01T10:00:09",
            "4 | 2026-01-01T10:00:09"
        ]
    );
    assert_eq!(
        run(
            &engine,
            "SELECT k FROM s WHERE CURRENT_WATERMARK(ts) IS NULL OR ts > CURRENT_WATERMARK(ts)"
        )
        .await,
        ["1", "2", "4"]
    );
    // Over a bounded table there is no watermark.
    engine
        .execute(&format!(
            "CREATE TABLE b (k BIGINT, ts TIMESTAMP(3))
             WITH ('connector' = 'filesystem', 'path' = '{}/', 'format' = 'csv')",
            files.display()
        ))
        .await
        .unwrap();
    assert_eq!(
        run(
            &engine,
            "SELECT COUNT(*) FROM b WHERE CURRENT_WATERMARK(ts) IS NULL"
        )
        .await,
        ["4"]
    );
}
