//! Reads Parquet over `s3://` from a real S3-compatible server (moto) that
//! the test starts on 127.0.0.1 with an ephemeral port and stops at the end.
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

#[test]
fn parquet_over_s3_answers_like_the_local_files() {
    let moto = match start_moto() {
        Ok(moto) => moto,
        Err(why) if std::env::var_os("FLOWSQL_REQUIRE_S3").is_none() => {
            eprintln!("skipping the S3 test: {why} (pip install 'moto[server]')");
            return;
        }
        Err(why) => panic!("FLOWSQL_REQUIRE_S3 is set but {why}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http(moto.port, "PUT", &format!("/{BUCKET}"), b"").starts_with("HTTP/1.1 200") {
        assert!(Instant::now() < deadline, "moto did not create the bucket");
        std::thread::sleep(Duration::from_millis(200));
    }
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
