//! The `flowsql` process under faults: SIGTERM stops jobs cleanly (sinks
//! published), rerunning a script into the same sink directory never
//! overwrites the earlier run's files.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_flowsql");

/// The files of `dir`, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Data rows in the CSV files of `dir` (headers left out).
fn csv_rows(dir: &Path) -> usize {
    files(dir)
        .iter()
        .filter(|f| !f.starts_with('.'))
        .map(|f| {
            std::fs::read_to_string(dir.join(f))
                .unwrap()
                .lines()
                .count()
                - 1
        })
        .sum()
}

fn flowsql(data_dir: &Path, sql: &str) -> std::process::Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("-q")
        .arg("-c")
        .arg(sql)
        .output()
        .unwrap()
}

#[test]
fn rerunning_a_script_keeps_the_earlier_runs_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let sql = format!(
        "CREATE TABLE bids (auction BIGINT, price DOUBLE) WITH ('connector' = 'filesystem', \
         'path' = 'data/bids/', 'format' = 'parquet');
         CREATE TABLE sink (auction BIGINT, price DOUBLE) WITH ('connector' = 'filesystem', \
         'path' = '{}', 'format' = 'csv');
         INSERT INTO sink SELECT auction, price FROM bids;",
        out.display()
    );
    for run in 1..=2 {
        let output = flowsql(dir.path(), &sql);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(csv_rows(&out), 1000 * run, "{:?}", files(&out));
    }
    assert_eq!(files(&out), ["part-1-00000.csv", "part-1-00001.csv"]);
}

#[cfg(unix)]
#[test]
fn sigterm_stops_jobs_and_publishes_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // The watched directory never ends: the job runs until it is stopped.
    let sql = format!(
        "CREATE TABLE live (auction BIGINT, price DOUBLE, ts TIMESTAMP(3), \
         WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) WITH ('connector' = 'filesystem', \
         'path' = 'data/bids/', 'format' = 'parquet', 'source.monitor-interval' = '50ms');
         CREATE TABLE sink (auction BIGINT, price DOUBLE) WITH ('connector' = 'filesystem', \
         'path' = '{}', 'format' = 'csv');
         INSERT INTO sink SELECT auction, price FROM live;",
        out.display()
    );
    let child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("-q")
        .arg("-c")
        .arg(&sql)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the job has written into its in-progress file.
    let started = Instant::now();
    while !files(&out).iter().any(|f| f.ends_with(".inprogress")) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no file was begun"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(143),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("terminated: stopping jobs"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(files(&out), ["part-1-00000.csv"]);
    assert_eq!(csv_rows(&out), 1000);
}

/// `--allow-path` confines every path a statement names; without it any
/// path the process can read is allowed, as in DataFusion.
#[test]
fn allow_path_confines_sources_sinks_copy_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().join("allowed");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::copy("data/bids.csv", allowed.join("bids.csv")).unwrap();
    let outside = dir.path().join("outside");
    let run = |sql: &str| {
        Command::new(BIN)
            .arg("--data-dir")
            .arg(dir.path().join("state"))
            .arg("--allow-path")
            .arg(&allowed)
            .args(["-q", "--format", "csv", "-c", sql])
            .output()
            .unwrap()
    };
    let inside = format!(
        "CREATE TABLE bids (auction BIGINT, price DOUBLE) WITH ('connector' = 'filesystem', \
         'path' = '{0}/bids.csv', 'format' = 'csv');
         COPY (SELECT * FROM bids) TO '{0}/copy.csv' STORED AS CSV;
         SELECT * FROM TRAIN_LINEAR('m', TABLE bids, 'price');
         SELECT COUNT(*) AS n FROM bids",
        allowed.display()
    );
    let output = run(&inside);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).ends_with("n\n1000\n"));
    assert!(allowed.join("copy.csv").exists());
    for refused in [
        "CREATE TABLE t (a BIGINT) WITH ('connector' = 'filesystem', 'path' = '/etc/passwd', 'format' = 'csv')".to_string(),
        format!("CREATE TABLE t (a BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}/../outside/', 'format' = 'csv')", allowed.display()),
        format!("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{}/x.csv'", outside.display()),
        format!("COPY (SELECT 1 AS a) TO '{}/x.csv' STORED AS CSV", outside.display()),
        format!(
            "SET 'execution.checkpointing.interval' = '1s'; SET 'execution.checkpointing.dir' = '{}';
             CREATE TABLE s (auction BIGINT, date_time TIMESTAMP(3)) WITH ('connector' = 'nexmark', 'table' = 'bid', 'events' = '10');
             CREATE TABLE out (a BIGINT) WITH ('connector' = 'blackhole');
             INSERT INTO out SELECT auction FROM s",
            outside.display()
        ),
    ] {
        let output = run(&refused);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{refused}\n{stderr}");
        assert!(stderr.contains("is outside the directories this flowsql may use (--allow-path)"), "{stderr}");
    }
    assert!(!outside.exists());
}

/// A script that never ends (`/dev/zero`) is refused past 64 MiB instead of
/// being read for ever.
#[cfg(unix)]
#[test]
fn an_endless_script_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["-f", "/dev/zero"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("larger than 64 MiB"), "{stderr}");
}

/// `--format json` over an unbounded stream writes the array as rows
/// arrive (it buffered every row until the end, which never came).
#[cfg(unix)]
#[test]
fn json_output_of_a_stream_is_written_as_it_arrives() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let sql = "CREATE TABLE live (auction BIGINT, ts TIMESTAMP(3), \
         WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) WITH ('connector' = 'filesystem', \
         'path' = 'data/bids/', 'format' = 'parquet', 'source.monitor-interval' = '50ms');
         SELECT auction FROM live WHERE auction = 1001;";
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["-q", "--format", "json", "-c", sql])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(r#"{"auction":1001}"#) {
        let n = stdout.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "the output ended: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(
        seen.starts_with(br#"[{"auction":1001}"#),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
