//! Feeds arbitrary UTF-8 text to `flowsql::sql::split_statements`, then
//! plans each statement through one real `flowsql::Engine` (a bounded CSV
//! table `t`, a stream `s` over the same file and a small Nexmark stream
//! `bid` are registered first).
//!
//! Checks: splitting and planning never panic, abort or hang (errors are
//! fine); every split statement is non-empty text taken from the input.
//! Each statement is planned with `EXPLAIN <statement>` (its output, a few
//! lines, is read) and then with `Engine::query`, whose stream is dropped
//! unread so nothing unbounded runs. `EXPLAIN`, `SHOW` and `DESCRIBE`
//! statements are read to the end. Statements that could write files, train
//! models, change session settings or open sockets are skipped (see
//! [`harmless`]) so the fuzzer cannot fill the disk or reach the network.

#![no_main]

use std::sync::LazyLock;

use flowsql::Engine;
use futures::StreamExt;
use libfuzzer_sys::fuzz_target;

/// The engine and the runtime it runs on, made once per process.
struct Fixture {
    runtime: tokio::runtime::Runtime,
    engine: Engine,
    _data_dir: tempfile::TempDir,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    // One worker thread: spawned work only runs while a statement is being
    // planned, and a dropped stream's tasks are cancelled before the next.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let data_dir = tempfile::tempdir().expect("a temporary directory");
    let bids = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/bids.csv");
    let engine = runtime.block_on(async {
        let engine = Engine::builder()
            .data_dir(data_dir.path().join("state"))
            .build()
            .await
            .expect("an engine");
        let setup = format!(
            "CREATE TABLE t (auction BIGINT, bidder BIGINT, price DOUBLE, ts TIMESTAMP(3))
               WITH ('connector' = 'filesystem', 'path' = '{bids}', 'format' = 'csv');
             CREATE TABLE s (auction BIGINT, bidder BIGINT, price DOUBLE, ts TIMESTAMP(3),
               WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
               WITH ('connector' = 'filesystem', 'path' = '{bids}', 'format' = 'csv');
             CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR,
               url VARCHAR, date_time TIMESTAMP(3), extra VARCHAR,
               WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
               WITH ('connector' = 'nexmark', 'table' = 'bid', 'events' = '1000');"
        );
        engine.execute(&setup).await.expect("the fuzz tables");
        engine
    });
    Fixture {
        runtime,
        engine,
        _data_dir: data_dir,
    }
});

/// Words whose statements are not planned: they write files (INSERT, COPY,
/// CREATE ... AS, EXTERNAL TABLE), train models (TRAIN_...), run a query
/// to its end (ANALYZE), change the engine's state for later inputs (SET,
/// CREATE, DROP, PREPARE) or could reach the network (CREATE TABLE over
/// tcp, URLs).
const SKIPPED: &[&str] = &[
    "INSERT",
    "COPY",
    "DROP",
    "CREATE",
    "ANALYZE",
    "SET",
    "RESET",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "DELETE",
    "UPDATE",
    "TRUNCATE",
    "MERGE",
    "ALTER",
    "STOP",
];

/// Whether `statement` is safe to plan. Words are compared after Unicode
/// upper-casing, as the SQL tokenizer matches keywords (so `ſet` is `SET`).
fn harmless(statement: &str) -> bool {
    let upper = statement.to_uppercase();
    !upper.contains("://")
        && !upper
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|word| word.starts_with("TRAIN_") || SKIPPED.contains(&word))
}

/// Whether the statement's rows are a few lines of description.
fn describes(statement: &str) -> bool {
    let first = statement
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_uppercase();
    matches!(first.as_str(), "EXPLAIN" | "SHOW" | "DESCRIBE" | "DESC")
}

async fn drain(engine: &Engine, sql: &str) {
    if let Ok(mut rows) = engine.query(sql).await {
        while let Some(batch) = rows.next().await {
            if batch.is_err() {
                break;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = flowsql::sql::ends_with_semicolon(text);
    let Ok(statements) = flowsql::sql::split_statements(text) else {
        return;
    };
    for statement in &statements {
        assert!(!statement.text.is_empty(), "an empty statement was split");
        assert!(
            text.contains(statement.text.as_str()),
            "statement {:?} is not part of the input",
            statement.text
        );
        assert!(statement.start.line >= 1 && statement.start.column >= 1);
    }
    let fixture = &*FIXTURE;
    for statement in statements {
        let sql = statement.text.as_str();
        if !harmless(sql) {
            continue;
        }
        fixture.runtime.block_on(async {
            if describes(sql) {
                drain(&fixture.engine, sql).await;
            } else {
                drain(&fixture.engine, &format!("EXPLAIN {sql}")).await;
                // Planned (and physical plan built), never read.
                drop(fixture.engine.query(sql).await);
            }
        });
    }
});
