//! Streams over files: a watched directory emits windows as files arrive,
//! and dropping the results stops the query.

use std::time::Duration;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use flowsql::Engine;
use futures::StreamExt;

/// Writes a CSV file of `(k, ts)` rows into `dir` atomically (write, then rename).
fn add_file(dir: &std::path::Path, name: &str, seconds: std::ops::Range<u32>) {
    let mut text = String::from("k,ts\n");
    for s in seconds {
        text.push_str(&format!("1,2026-01-01T10:{:02}:{:02}\n", s / 60, s % 60));
    }
    let staging = dir.parent().unwrap().join(format!("{name}.tmp"));
    std::fs::write(&staging, text).unwrap();
    std::fs::rename(&staging, dir.join(name)).unwrap();
}

/// An engine over `root` with `clicks (k, ts)`, a CSV stream watching
/// `dir` every `interval`.
async fn watched_clicks(root: &std::path::Path, dir: &std::path::Path, interval: &str) -> Engine {
    let engine = Engine::builder().data_dir(root).build().await.unwrap();
    engine
        .execute(&format!(
            "CREATE TABLE clicks (k BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
             WITH ('connector' = 'filesystem', 'path' = '{}/', 'format' = 'csv',
                   'source.monitor-interval' = '{interval}')",
            dir.display()
        ))
        .await
        .unwrap();
    engine
}

/// Reads emissions until `n` more windows have arrived; returns them as
/// (window_start, count) in start order.
async fn windows(stream: &mut flowsql::QueryStream, n: usize) -> Vec<(String, i64)> {
    let mut rows = Vec::new();
    while rows.len() < n {
        let batch: RecordBatch = tokio::time::timeout(Duration::from_secs(120), stream.next())
            .await
            .expect("a window within two minutes")
            .expect("the stream is still open")
            .unwrap();
        let starts = datafusion::arrow::util::display::ArrayFormatter::try_new(
            batch.column(0).as_ref(),
            &Default::default(),
        )
        .unwrap();
        let counts = batch.column(1).as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            rows.push((starts.value(row).to_string(), counts.value(row)));
        }
    }
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_directory_emits_windows_as_files_arrive() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("clicks");
    std::fs::create_dir(&dir).unwrap();
    add_file(&dir, "part-001.csv", 0..10);

    let engine = watched_clicks(root.path(), &dir, "50ms").await;
    let mut results = engine
        .query(
            "SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '10' SECOND))
             GROUP BY window_start, window_end",
        )
        .await
        .unwrap();

    // The second file moves the watermark (10:00:23) past the ends of the
    // first two windows; the third file past the third's.
    add_file(&dir, "part-002.csv", 10..25);
    assert_eq!(
        windows(&mut results, 2).await,
        [
            ("2026-01-01T10:00:00".to_string(), 10),
            ("2026-01-01T10:00:10".to_string(), 10)
        ]
    );
    add_file(&dir, "part-003.csv", 25..40);
    assert_eq!(
        windows(&mut results, 1).await,
        [("2026-01-01T10:00:20".to_string(), 10)]
    );
    // Dropping the results cancels the unbounded query.
    drop(results);
}

/// A watched directory takes a file once it is complete: one still being
/// written (a line every 20 ms, the directory listed every 500 ms) is not
/// read half, and an empty file is passed over (it ended the stream).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_directory_reads_files_once_complete() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("clicks");
    std::fs::create_dir(&dir).unwrap();
    let engine = watched_clicks(root.path(), &dir, "500ms").await;
    let mut results = engine.query("SELECT k FROM clicks").await.unwrap();
    let metrics = results.metrics().unwrap();
    std::fs::write(dir.join("part-000.csv"), "").unwrap();
    let file = dir.join("part-001.csv");
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut out = std::fs::File::create(file).unwrap();
        out.write_all(b"k,ts\n").unwrap();
        for k in 0..40 {
            writeln!(out, "{k},2026-01-01T10:00:{k:02}").unwrap();
            out.flush().unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let mut keys = Vec::new();
    while keys.len() < 40 {
        let batch = tokio::time::timeout(Duration::from_secs(120), results.next())
            .await
            .expect("rows within two minutes")
            .expect("the stream is still open")
            .unwrap();
        keys.extend(batch.column(0).as_primitive::<Int64Type>().iter().flatten());
    }
    writer.join().unwrap();
    // Read once, whole: every row, nothing malformed.
    assert_eq!(keys, (0..40).collect::<Vec<i64>>());
    assert_eq!(metrics.rows_in(), 40);
    assert_eq!(metrics.malformed(), 0);
}

/// A long monitor interval does not hold back files that are complete:
/// they are read after one short settling look, not after the interval
/// (with '1h' the stream read nothing for an hour).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_monitor_interval_reads_complete_files_soon() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("clicks");
    std::fs::create_dir(&dir).unwrap();
    add_file(&dir, "part-000.csv", 0..30);
    let engine = watched_clicks(root.path(), &dir, "1h").await;
    let mut results = engine.query("SELECT k FROM clicks").await.unwrap();
    let mut rows = 0;
    while rows < 30 {
        let batch = tokio::time::timeout(Duration::from_secs(120), results.next())
            .await
            .expect("the file's rows within two minutes, not an hour")
            .expect("the stream is still open")
            .unwrap();
        rows += batch.num_rows();
    }
    assert_eq!(rows, 30);
}

#[tokio::test]
async fn watching_needs_a_watermark() {
    let root = tempfile::tempdir().unwrap();
    let engine = Engine::builder()
        .data_dir(root.path())
        .build()
        .await
        .unwrap();
    let err = engine
        .execute(
            "CREATE TABLE t (user VARCHAR) WITH ('connector' = 'filesystem', 'path' = 'data/clicks.csv',
             'format' = 'csv', 'source.monitor-interval' = '1s')",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs event time"), "{err}");
}

/// A Parquet file of many row groups (30, several MB, large enough for
/// DataFusion to split its scans into eight byte ranges) streams in file
/// order: every row is in its window and none is late (the windows equal the
/// batch answer), although DataFusion's partitions may take each other's
/// ranges when read at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_many_row_groups_streams_in_order() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("events.parquet");
    let engine = Engine::builder()
        .data_dir(root.path())
        .build()
        .await
        .unwrap();
    engine
        .execute(&format!(
            "SET 'datafusion.execution.target_partitions' = '8';
             COPY (SELECT value % 7 AS k, TO_TIMESTAMP_MILLIS(1767261600000 + value * 10) AS ts,
                          (value * 2654435761) % 1000003 AS noise
                   FROM generate_series(1, 600000) ORDER BY value)
             TO '{0}' STORED AS PARQUET OPTIONS ('format.max_row_group_size' '20000');
             CREATE TABLE events (k BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
             WITH ('connector' = 'filesystem', 'path' = '{0}', 'format' = 'parquet');
             CREATE TABLE events_bounded (k BIGINT, ts TIMESTAMP(3))
             WITH ('connector' = 'filesystem', 'path' = '{0}', 'format' = 'parquet')",
            file.display()
        ))
        .await
        .unwrap();
    let collect = |sql: &'static str| {
        let engine = &engine;
        async move {
            let stream = engine.query(sql).await.unwrap();
            let metrics = stream.metrics();
            let batches = stream.collect().await.unwrap();
            let mut rows: Vec<(i64, i64)> = batches
                .iter()
                .flat_map(|b| {
                    let k = b.column(0).as_primitive::<Int64Type>().clone();
                    let n = b.column(1).as_primitive::<Int64Type>().clone();
                    (0..b.num_rows()).map(move |r| (k.value(r), n.value(r)))
                })
                .collect();
            rows.sort();
            (rows, metrics.map(|m| m.late_rows()))
        }
    };
    let (streamed, late) = collect(
        "SELECT k, COUNT(*) FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '10' SECOND))
         GROUP BY k, window_start, window_end",
    )
    .await;
    let (batch, _) = collect(
        "SELECT k, COUNT(*) FROM events_bounded GROUP BY k, date_bin(INTERVAL '10' SECOND, ts)",
    )
    .await;
    assert_eq!(late, Some(0));
    assert_eq!(streamed.len(), batch.len());
    assert_eq!(streamed, batch);
}
