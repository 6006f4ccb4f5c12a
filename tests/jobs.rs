//! Continuous jobs: `INSERT INTO` a sink runs in the background; `SHOW JOBS`
//! and `STOP JOB` from the Engine and the CLI; the filesystem sink's files
//! are complete whenever they are visible.

mod common;

use std::process::Command;
use std::time::Duration;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::UInt64Type;
use datafusion::arrow::util::pretty::pretty_format_batches;
use flowsql::JobState;

const BIN: &str = env!("CARGO_BIN_EXE_flowsql");

const BIDS: &str = common::BIDS_STREAM;

const PER_MINUTE: &str = "SELECT window_start, auction, COUNT(*) AS bids, MAX(price) AS top
  FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
  GROUP BY window_start, window_end, auction";

fn sorted_rows(batches: &[RecordBatch]) -> Vec<String> {
    let text = pretty_format_batches(batches).unwrap().to_string();
    let mut rows: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("| 2026"))
        .map(String::from)
        .collect();
    rows.sort();
    rows
}

fn visible_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filesystem_sink_holds_exactly_the_query_result() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let engine = common::engine_in(dir.path()).await;
    engine.execute(BIDS).await.unwrap();
    for format in ["parquet", "csv", "json"] {
        let path = out.join(format);
        engine
            .execute(&format!(
                "CREATE TABLE sink_{format} (window_start TIMESTAMP(3), auction BIGINT, bids BIGINT, top DOUBLE)
                 WITH ('connector' = 'filesystem', 'path' = '{}/', 'format' = '{format}');
                 INSERT INTO sink_{format} {PER_MINUTE}",
                path.display()
            ))
            .await
            .unwrap();
        let jobs = engine.jobs().wait_all().await;
        let job = jobs.last().unwrap();
        assert_eq!(job.state, JobState::Finished, "{format}");
        assert_eq!(job.rows_out, 56, "{format}: 7 minutes x 8 auctions");

        // Only complete, published files; read back with DataFusion.
        let files = visible_files(&path);
        assert!(files.iter().all(|f| !f.starts_with('.')), "{files:?}");
        assert_eq!(files, [format!("part-{}-00000.{format}", job.id)]);
        engine
            .execute(&format!(
                "CREATE TABLE back_{format} (window_start TIMESTAMP(3), auction BIGINT, bids BIGINT, top DOUBLE)
                 WITH ('connector' = 'filesystem', 'path' = '{}/', 'format' = '{format}')",
                path.display()
            ))
            .await
            .unwrap();
        let written = engine
            .query(&format!("SELECT * FROM back_{format}"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let direct = engine
            .query(PER_MINUTE)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(sorted_rows(&written), sorted_rows(&direct), "{format}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_updating_result_into_a_keyed_filesystem_table_is_one_snapshot_of_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("per_auction");
    let engine = common::engine_in(dir.path()).await;
    engine.execute(BIDS).await.unwrap();
    engine.execute(common::BIDS_BOUNDED).await.unwrap();
    let query = "SELECT auction, COUNT(*) AS bids, MAX(price) AS top FROM bids GROUP BY auction";
    engine
        .execute(&format!(
            "CREATE TABLE per_auction (auction BIGINT, bids BIGINT, top DOUBLE,
               PRIMARY KEY (auction) NOT ENFORCED)
             WITH ('connector' = 'filesystem', 'path' = '{}/', 'format' = 'csv');
             INSERT INTO per_auction {query}",
            out.display()
        ))
        .await
        .unwrap();
    let jobs = engine.jobs().wait_all().await;
    let job = jobs.last().unwrap();
    assert_eq!(job.state, JobState::Finished, "{:?}", job.state);
    // One file, the table the changelog folds to: the batch answer.
    assert_eq!(visible_files(&out), [format!("snapshot-{}.csv", job.id)]);
    engine
        .execute(&format!(
            "CREATE TABLE back (auction BIGINT, bids BIGINT, top DOUBLE)
             WITH ('connector' = 'filesystem', 'path' = '{}/', 'format' = 'csv')",
            out.display()
        ))
        .await
        .unwrap();
    let written = engine
        .query("SELECT * FROM back")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let batch = engine
        .query(&query.replace("FROM bids", "FROM bounded"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(common::sorted_rows(&written), common::sorted_rows(&batch));
    assert_eq!(common::sorted_rows(&written).len(), 8);
    // Without a key, the same table refuses, naming what to declare.
    engine
        .execute(&format!(
            "CREATE TABLE no_key (auction BIGINT, bids BIGINT, top DOUBLE)
             WITH ('connector' = 'filesystem', 'path' = '{}/', 'format' = 'csv')",
            dir.path().join("no_key").display()
        ))
        .await
        .unwrap();
    let err = engine
        .execute(&format!("INSERT INTO no_key {query}"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("takes only appended rows"), "{err}");
    assert!(err.contains("PRIMARY KEY (...) NOT ENFORCED"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_table_is_written_per_partition_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("by_minute");
    let engine = common::engine_in(dir.path()).await;
    engine.execute(BIDS).await.unwrap();
    engine.execute(common::BIDS_BOUNDED).await.unwrap();
    engine
        .execute(&format!(
            "CREATE TABLE by_minute (auction BIGINT, price DOUBLE, minute STRING, big BOOLEAN)
             PARTITIONED BY (minute, big)
             WITH ('connector' = 'filesystem', 'path' = '{}/', 'format' = 'csv',
                   'sink.partition-commit.policy.kind' = 'success-file');
             INSERT INTO by_minute SELECT auction, price, DATE_FORMAT(ts, 'HH:mm'), price > 250
             FROM bids",
            out.display()
        ))
        .await
        .unwrap();
    let jobs = engine.jobs().wait_all().await;
    assert_eq!(jobs[0].state, JobState::Finished, "{:?}", jobs[0].state);
    // Seven minutes, each with cheap and dear bids: 14 directories.
    let minutes = visible_files(&out);
    assert_eq!(minutes.len(), 7, "{minutes:?}");
    assert!(
        minutes.iter().all(|m| m.starts_with("minute=10%3A0")),
        "{minutes:?}"
    );
    let (written, uncommitted) = common::partitioned_rows(&out, 2).await;
    assert!(uncommitted.is_empty(), "{uncommitted:?}");
    let batch = engine
        .query("SELECT auction, price, to_char(ts, '%H:%M'), price > 250 FROM bounded")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(written, common::sorted_rows(&batch));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_jobs_and_stop_job_from_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine_in(dir.path()).await;
    // A watched directory never ends: the job runs until stopped.
    engine
        .execute(&format!(
            "CREATE TABLE live (auction BIGINT, price DOUBLE, ts TIMESTAMP(3),
               WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
             WITH ('connector' = 'filesystem', 'path' = 'data/bids/', 'format' = 'parquet',
                   'source.monitor-interval' = '50ms');
             CREATE TABLE out (window_start TIMESTAMP(3), auction BIGINT, bids BIGINT, top DOUBLE)
             WITH ('connector' = 'filesystem', 'path' = '{}/out/', 'format' = 'csv')",
            dir.path().display()
        ))
        .await
        .unwrap();
    let started = engine
        .query(&format!(
            "INSERT INTO out {}",
            PER_MINUTE.replace("TABLE bids", "TABLE live")
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let id = started[0].column(0).as_primitive::<UInt64Type>().value(0);

    // The closed minutes (all but the last, still open) reach the sink.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let jobs = engine
            .query("SHOW JOBS")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let state = jobs[0]
            .column_by_name("state")
            .unwrap()
            .as_string::<i32>()
            .value(0)
            .to_string();
        let rows_out = jobs[0]
            .column_by_name("rows_out")
            .unwrap()
            .as_primitive::<UInt64Type>()
            .value(0);
        assert_eq!(state, "RUNNING");
        if rows_out == 48 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rows out: {rows_out}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopped = engine
        .query(&format!("STOP JOB {id}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        stopped[0]
            .column_by_name("state")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "STOPPED"
    );
    // Stopping flushed and published the sink's file.
    let files = visible_files(&dir.path().join("out"));
    assert_eq!(files, [format!("part-{id}-00000.csv")]);
    let text = std::fs::read_to_string(dir.path().join("out").join(&files[0])).unwrap();
    assert_eq!(text.lines().count(), 1 + 48);

    let err = engine.query("STOP JOB 99").await.unwrap_err().to_string();
    assert!(err.contains("there is no job 99"), "{err}");
}

#[test]
fn a_script_waits_for_its_jobs_and_prints_to_a_print_sink() {
    let dir = tempfile::tempdir().unwrap();
    let sql = format!(
        "{BIDS};
         CREATE TABLE shown (window_start TIMESTAMP(3), bids BIGINT) WITH ('connector' = 'print');
         INSERT INTO shown SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '5' MINUTE)) GROUP BY window_start, window_end;"
    );
    let output = Command::new(BIN)
        .args(["-q", "--format", "csv", "-c", &sql, "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut printed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("+I")).collect();
    printed.sort();
    assert_eq!(
        printed,
        [
            "+I[2026-01-01T10:00:00, 800]",
            "+I[2026-01-01T10:05:00, 200]"
        ]
    );
}

/// A HOP sliding by 1 s over an hour holds hundreds of slices open; its
/// checkpoint is still one file per operator (the slices are keys in one
/// table), not one per slice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_holds_one_file_per_operator_however_many_windows_are_open() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine_in(dir.path()).await;
    engine
        .execute(
            "SET 'execution.checkpointing.interval' = '100ms';
             SET 'pipeline.name' = 'hop';
             CREATE TABLE live (auction BIGINT, price DOUBLE, ts TIMESTAMP(3),
               WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
             WITH ('connector' = 'filesystem', 'path' = 'data/bids/', 'format' = 'parquet',
                   'source.monitor-interval' = '50ms');
             CREATE TABLE out (window_start TIMESTAMP(3), auction BIGINT, bids BIGINT)
             WITH ('connector' = 'blackhole');
             INSERT INTO out SELECT window_start, auction, COUNT(*) AS bids
             FROM TABLE(HOP(TABLE live, DESCRIPTOR(ts), INTERVAL '1' SECOND, INTERVAL '1' HOUR))
             GROUP BY window_start, window_end, auction",
        )
        .await
        .unwrap();
    let checkpoints = dir.path().join("checkpoints").join("hop");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let (files, manifest) = loop {
        // The newest committed checkpoint that has read every file.
        let mut committed: Vec<_> = std::fs::read_dir(&checkpoints)
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("_COMMITTED").exists())
            .collect();
        committed.sort();
        let found = committed.last().and_then(|chk| {
            let manifest: serde_json::Value =
                serde_json::from_slice(&std::fs::read(chk.join("manifest.json")).ok()?).ok()?;
            let files = visible_files(chk);
            let slices = slices_in(chk, &manifest);
            (slices > 100).then_some((files, manifest))
        });
        if let Some(found) = found {
            break found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no checkpoint with the slices open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    engine.jobs().stop_all().await;
    let ids: Vec<&str> = manifest["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"live/source") && ids.contains(&"live/sliced_window"),
        "{ids:?}"
    );
    let arrow: Vec<&String> = files.iter().filter(|f| f.ends_with(".arrow")).collect();
    assert!(
        arrow.len() <= ids.len(),
        "one file per part at most: {arrow:?} for {ids:?}"
    );
}

/// The slices the sliced window operator's part of checkpoint `chk` holds.
fn slices_in(chk: &std::path::Path, manifest: &serde_json::Value) -> usize {
    let Some(part) = manifest["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["id"] == "live/sliced_window")
    else {
        return 0;
    };
    let file = &part["file"];
    let Some(table) = file["tables"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == "slices")
    else {
        return 0;
    };
    let bytes = std::fs::read(chk.join(file["name"].as_str().unwrap())).unwrap();
    let offset = table["offset"].as_u64().unwrap() as usize;
    let len = table["bytes"].as_u64().unwrap() as usize;
    let batches =
        flowsql::checkpoint::snapshot::decode_table(&bytes[offset..offset + len]).unwrap();
    batches.iter().map(|b| b.num_rows()).sum()
}
