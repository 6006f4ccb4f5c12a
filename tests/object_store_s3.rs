//! Reads Parquet over `s3://`, writes and reads checkpoints, and writes
//! filesystem sinks into `s3://` (killed with SIGKILL and restarted: what
//! an uninterrupted local run writes), on a real S3-compatible server
//! (moto) that each test starts on 127.0.0.1 with an ephemeral port and
//! stops at the end.
//!
//! moto comes from PyPI (`pip install 'moto[server]'`; `.ci/run` installs it).
//! Where it is missing the test says so and passes, except when
//! `FLOWSQL_REQUIRE_S3` is set, as CI sets it: there it fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_flowsql");
const BUCKET: &str = "flowsql-test";

/// A moto server, killed when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts moto on 127.0.0.1, port 0, and reads the port it chose from its log.
fn start_moto() -> Result<Moto, String> {
    let mut child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run moto_server: {e}"))?;
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("Running on http://127.0.0.1:").nth(1) {
                let _ = tx.send(rest.trim().parse::<u16>().ok());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Some(port)) => Ok(Moto { child, port }),
        _ => {
            let _ = child.kill();
            Err("moto_server did not report its port within 60 s".into())
        }
    }
}

/// One HTTP/1.1 request without authentication (moto does not check it).
fn http(port: u16, method: &str, path: &str, body: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

fn flowsql_csv(sql: &str, port: u16) -> String {
    let data_dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args(["--format", "csv", "-c", sql, "--data-dir"])
        .arg(data_dir.path())
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

const QUERY: &str =
    "SELECT auction, COUNT(*) AS bids, MAX(price) AS top FROM bids GROUP BY auction ORDER BY auction";

/// moto with the test bucket, or `None` (the test is skipped) where moto
/// is missing and `FLOWSQL_REQUIRE_S3` is not set.
fn moto_with_bucket() -> Option<Moto> {
    let moto = match start_moto() {
        Ok(moto) => moto,
        Err(why) if std::env::var_os("FLOWSQL_REQUIRE_S3").is_none() => {
            eprintln!("skipping the S3 test: {why} (pip install 'moto[server]')");
            return None;
        }
        Err(why) => panic!("FLOWSQL_REQUIRE_S3 is set but {why}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http(moto.port, "PUT", &format!("/{BUCKET}"), b"").starts_with("HTTP/1.1 200") {
        assert!(Instant::now() < deadline, "moto did not create the bucket");
        std::thread::sleep(Duration::from_millis(200));
    }
    Some(moto)
}

#[tokio::test]
async fn checkpoints_are_written_and_read_back_on_s3() {
    use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch};
    use flowsql::checkpoint::{CheckpointStore, QueryState, Snapshot};
    use object_store::aws::AmazonS3Builder;
    use object_store::path::Path;
    use std::sync::Arc;

    let Some(moto) = moto_with_bucket() else {
        return;
    };
    let s3 = AmazonS3Builder::new()
        .with_endpoint(format!("http://127.0.0.1:{}", moto.port))
        .with_allow_http(true)
        .with_bucket_name(BUCKET)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap();
    let store = CheckpointStore::new(Arc::new(s3), Path::from("checkpoints/job"));
    let state = |n: i64| {
        let mut operator = Snapshot::default();
        operator.set("watermark", n);
        let rows = Arc::new(Int64Array::from(vec![n; 1000])) as ArrayRef;
        operator.set_table(
            "rows",
            vec![RecordBatch::try_from_iter([("x", rows)]).unwrap()],
        );
        QueryState {
            operators: [("s/window".to_string(), operator)].into(),
            results_before: n as u64,
            ..QueryState::default()
        }
    };
    for id in 0..4 {
        store.write(id, "q", &state(id as i64)).await.unwrap();
    }
    assert_eq!(
        store.committed().await.unwrap(),
        [2, 3],
        "older ones pruned"
    );
    let restored = store.latest("q").await.unwrap().unwrap();
    assert_eq!((restored.id, restored.state), (3, state(3)));
}

#[test]
fn parquet_over_s3_answers_like_the_local_files() {
    let Some(moto) = moto_with_bucket() else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir("data/bids")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy();
        let response = http(
            moto.port,
            "PUT",
            &format!("/{BUCKET}/bids/{name}"),
            &std::fs::read(file).unwrap(),
        );
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }

    let table = |path: &str| {
        format!(
            "CREATE TABLE bids (auction BIGINT, price DOUBLE, ts TIMESTAMP(3)) \
             WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'parquet'); {QUERY}"
        )
    };
    let remote = flowsql_csv(&table(&format!("s3://{BUCKET}/bids/")), moto.port);
    let local = flowsql_csv(&table("data/bids/"), moto.port);
    assert_eq!(remote.lines().count(), 9, "{remote}");
    assert_eq!(remote, local);

    // DataFusion's own DDL reaches the same store.
    let external = flowsql_csv(
        &format!(
            "CREATE EXTERNAL TABLE bids STORED AS PARQUET LOCATION 's3://{BUCKET}/bids/'; {QUERY}"
        ),
        moto.port,
    );
    assert_eq!(external, local);
}

#[test]
fn a_job_checkpoints_to_s3_and_resumes_from_there() {
    let Some(moto) = moto_with_bucket() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let script = format!(
        "SET 'execution.checkpointing.interval' = '50ms';
         SET 'execution.checkpointing.dir' = 's3://{BUCKET}/checkpoints';
         SET 'pipeline.name' = 'remote';
         CREATE TABLE bids (auction BIGINT, price DOUBLE, ts TIMESTAMP(3),
           WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
         WITH ('connector' = 'filesystem', 'path' = 'data/bids/', 'format' = 'parquet');
         CREATE TABLE per_auction (window_start TIMESTAMP(3), auction BIGINT, n BIGINT)
         WITH ('connector' = 'filesystem', 'path' = '{}/', 'format' = 'csv');
         INSERT INTO per_auction SELECT window_start, auction, COUNT(*)
         FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
         GROUP BY window_start, window_end, auction;",
        out.path().display()
    );
    let visible = || {
        let mut lines: Vec<String> = std::fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .flat_map(|p| {
                std::fs::read_to_string(p)
                    .unwrap()
                    .lines()
                    .skip(1)
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .collect();
        lines.sort();
        lines
    };
    flowsql_csv(&script, moto.port);
    let first = visible();
    assert!(!first.is_empty());
    let listing = http(
        moto.port,
        "GET",
        &format!("/{BUCKET}?list-type=2&prefix=checkpoints/remote/"),
        b"",
    );
    assert!(listing.contains("_COMMITTED"), "{listing}");
    // Run again under the same name: it resumes from its last checkpoint,
    // taken at the end of the input, so it writes nothing (a fresh start
    // would write every window again).
    for entry in std::fs::read_dir(out.path()).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    flowsql_csv(&script, moto.port);
    assert_eq!(visible(), Vec::<String>::new());
}

/// The body of a moto response.
fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

/// The keys under `prefix` in the bucket.
fn keys(port: u16, prefix: &str) -> Vec<String> {
    let listing = http(
        port,
        "GET",
        &format!("/{BUCKET}?list-type=2&prefix={prefix}"),
        b"",
    );
    assert!(listing.starts_with("HTTP/1.1 200"), "{listing}");
    assert!(!listing.contains("<IsTruncated>true"), "{listing}");
    body(&listing)
        .split("<Key>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</Key>").map(|(key, _)| key.to_string()))
        .collect()
}

/// The jobs writing into `<out>/<job>/`: a window, an updating GROUP BY
/// into a keyed table (one snapshot) and a PARTITIONED BY table.
fn sink_script(input: &std::path::Path, out: &str) -> String {
    format!(
        "SET 'execution.checkpointing.interval' = '50ms';
         CREATE TABLE events (k BIGINT, v BIGINT, ts TIMESTAMP(3),
           WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
         WITH ('connector' = 'filesystem', 'path' = '{input}', 'format' = 'parquet');
         CREATE TABLE tumbling (window_start TIMESTAMP(3), k BIGINT, n BIGINT, total BIGINT)
         WITH ('connector' = 'filesystem', 'path' = '{out}/tumbling/', 'format' = 'csv');
         CREATE TABLE per_key (k BIGINT, n BIGINT, top BIGINT, PRIMARY KEY (k) NOT ENFORCED)
         WITH ('connector' = 'filesystem', 'path' = '{out}/per_key/', 'format' = 'csv');
         CREATE TABLE by_k (v BIGINT, ts TIMESTAMP(3), k BIGINT) PARTITIONED BY (k)
         WITH ('connector' = 'filesystem', 'path' = '{out}/by_k/', 'format' = 'csv',
               'sink.partition-commit.policy.kind' = 'success-file');
         SET 'pipeline.name' = 'tumbling';
         INSERT INTO tumbling SELECT window_start, k, COUNT(*), SUM(v)
         FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '10' SECOND))
         GROUP BY window_start, window_end, k;
         SET 'pipeline.name' = 'per_key';
         INSERT INTO per_key SELECT k, COUNT(*), MAX(v) FROM events GROUP BY k;
         SET 'pipeline.name' = 'by_k';
         INSERT INTO by_k SELECT v, ts, k FROM events WHERE v % 10 < 5;",
        input = input.display()
    )
}

/// A `flowsql` process running `script` with moto's endpoint.
fn flowsql_job(script: &std::path::Path, data_dir: &std::path::Path, port: u16) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(["-q", "-f"])
        .arg(script)
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Runs `command` to its end, which must be a success.
fn run_to_end(mut command: Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Each data row of the CSV files under `dir` (local) as `relative dir|row`,
/// sorted, and the other files' relative paths.
fn local_rows(dir: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let (mut rows, mut others) = (Vec::new(), Vec::new());
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            let relative = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if relative.ends_with(".csv") {
                let parent = relative.rsplit_once('/').map_or("", |(p, _)| p).to_string();
                let text = std::fs::read_to_string(&path).unwrap();
                rows.extend(text.lines().skip(1).map(|row| format!("{parent}|{row}")));
            } else {
                others.push(relative);
            }
        }
    }
    rows.sort();
    others.sort();
    (rows, others)
}

/// The same for the objects under `prefix/`.
fn s3_rows(port: u16, prefix: &str) -> (Vec<String>, Vec<String>) {
    let (mut rows, mut others) = (Vec::new(), Vec::new());
    for key in keys(port, &format!("{prefix}/")) {
        let relative = key[prefix.len() + 1..].to_string();
        if relative.ends_with(".csv") {
            let parent = relative.rsplit_once('/').map_or("", |(p, _)| p).to_string();
            let response = http(port, "GET", &format!("/{BUCKET}/{key}"), b"");
            assert!(response.starts_with("HTTP/1.1 200"), "{key}: {response}");
            rows.extend(
                body(&response)
                    .lines()
                    .skip(1)
                    .map(|row| format!("{parent}|{row}")),
            );
        } else {
            others.push(relative);
        }
    }
    rows.sort();
    others.sort();
    (rows, others)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sinks_into_s3_killed_at_random_moments_write_what_a_local_run_writes() {
    use rand::{Rng, SeedableRng};

    let Some(moto) = moto_with_bucket() else {
        return;
    };
    // 40 Parquet files of 4,000 rows, five keys, 10 ms apart, some disorder.
    let root = tempfile::tempdir().unwrap();
    let engine = flowsql::Engine::builder()
        .data_dir(root.path())
        .build()
        .await
        .unwrap();
    let mut copy = String::new();
    for part in 0..40 {
        let (from, to) = (part * 4000 + 1, (part + 1) * 4000);
        copy.push_str(&format!(
            "COPY (SELECT value % 5 AS k, value % 1000 AS v,
                    TO_TIMESTAMP_MILLIS(1767261600000 + value * 10 - (value * 7919) % 900) AS ts
                   FROM generate_series({from}, {to}) ORDER BY value)
             TO '{}/events/part-{part:03}.parquet' STORED AS PARQUET;",
            root.path().display()
        ));
    }
    engine.execute(&copy).await.unwrap();
    let input = root.path().join("events");

    // The uninterrupted run, into a local directory.
    let local = root.path().join("local");
    let local_script = root.path().join("local.sql");
    std::fs::write(
        &local_script,
        sink_script(&input, &local.display().to_string()),
    )
    .unwrap();
    run_to_end(flowsql_job(
        &local_script,
        &root.path().join("local-data"),
        moto.port,
    ));

    // Runs into S3 killed with SIGKILL, then one left to finish.
    let remote_script = root.path().join("remote.sql");
    let out = format!("s3://{BUCKET}/out");
    std::fs::write(&remote_script, sink_script(&input, &out)).unwrap();
    let data = root.path().join("remote-data");
    let mut random = rand::rngs::StdRng::seed_from_u64(11);
    let mut kills = 0;
    for _ in 0..4 {
        let mut child = flowsql_job(&remote_script, &data, moto.port)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(random.random_range(300..1500)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    run_to_end(flowsql_job(&remote_script, &data, moto.port));
    assert!(kills > 0, "no run was killed: the jobs ended too soon");
    eprintln!("kills: {kills}");

    for job in ["tumbling", "per_key", "by_k"] {
        let (want, want_others) = local_rows(&local.join(job));
        let (got, got_others) = s3_rows(moto.port, &format!("out/{job}"));
        assert!(!want.is_empty(), "{job}: no output");
        assert_eq!(got.len(), want.len(), "{job}: rows after {kills} kills");
        assert_eq!(got, want, "{job}: rows after {kills} kills");
        // Only _SUCCESS files beside the data; nothing hidden left visible.
        assert_eq!(got_others, want_others, "{job}");
    }
    let (_, success) = local_rows(&local.join("by_k"));
    assert_eq!(success.len(), 5, "a _SUCCESS per partition: {success:?}");
}
