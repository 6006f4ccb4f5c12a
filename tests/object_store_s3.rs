//! Reads Parquet over `s3://`, and writes and reads checkpoints, on a real
//! S3-compatible server (moto) that each test starts on 127.0.0.1 with an
//! ephemeral port and stops at the end.
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
