//! The tcp source and sink over real sockets on 127.0.0.1 (ports chosen by
//! the OS): windows while the connection is open, the end of the stream when
//! the producer closes, malformed input, many producers into a server-mode
//! source, a refused connection, and a job writing lines to a tcp sink.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use flowsql::Engine;
use futures::StreamExt;

const BIN: &str = env!("CARGO_BIN_EXE_flowsql");

fn click(second: u32) -> String {
    format!(
        "{{\"user\": \"u{}\", \"ts\": \"2026-01-01T10:{:02}:{:02}\"}}\n",
        second % 3,
        second / 60,
        second % 60
    )
}

#[test]
fn windows_appear_while_the_producer_is_connected_and_the_rest_when_it_closes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let data_dir = tempfile::tempdir().unwrap();
    let sql = format!(
        "CREATE TABLE clicks (user VARCHAR, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
         WITH ('connector' = 'tcp', 'hostname' = '127.0.0.1', 'port' = '{port}', 'format' = 'json');
         SELECT window_start, COUNT(*) AS n FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '10' SECOND))
         GROUP BY window_start, window_end;"
    );
    let mut child = Command::new(BIN)
        .args(["--format", "csv", "-c", &sql, "--data-dir"])
        .arg(data_dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut producer, _) = listener.accept().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();

    // 25 seconds of clicks: the watermark (10:00:23) closes two windows.
    for second in 0..25 {
        producer.write_all(click(second).as_bytes()).unwrap();
    }
    producer.flush().unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        line.clear();
        output.read_line(&mut line).unwrap();
        seen.push(line.trim().to_string());
    }
    seen[1..].sort();
    assert_eq!(
        seen,
        [
            "window_start,n",
            "2026-01-01T10:00:00,10",
            "2026-01-01T10:00:10,10"
        ]
    );

    // The connection is still open; closing it ends the stream and emits
    // the open windows.
    for second in 25..32 {
        producer.write_all(click(second).as_bytes()).unwrap();
    }
    drop(producer);
    let mut rest: Vec<String> = output.lines().map(Result::unwrap).collect();
    rest.sort();
    assert_eq!(rest, ["2026-01-01T10:00:20,10", "2026-01-01T10:00:30,2"]);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// A window on processing time (a `PROCTIME()` column of a view) closes by the
/// wall clock: its counts arrive while the producer is still connected and
/// has gone quiet, with no later row to raise a watermark.
#[test]
fn a_processing_time_window_closes_by_the_clock_while_the_producer_is_quiet() {
    processing_time_window_closes_by_the_clock(
        "CREATE TABLE clicks (user VARCHAR, ts TIMESTAMP(3))
         WITH ('connector' = 'tcp', 'hostname' = '127.0.0.1', 'port' = '{port}', 'format' = 'json');
         CREATE VIEW seen AS SELECT *, PROCTIME() AS p FROM clicks;",
    );
}

/// The same with `PROCTIME()` a computed column of the tcp table, as Flink
/// declares it: the column is computed on each batch the socket gives.
#[test]
fn a_proctime_computed_column_of_a_tcp_table_windows_by_the_clock() {
    processing_time_window_closes_by_the_clock(
        "CREATE TABLE seen (user VARCHAR, ts TIMESTAMP(3), p AS PROCTIME())
         WITH ('connector' = 'tcp', 'hostname' = '127.0.0.1', 'port' = '{port}', 'format' = 'json');",
    );
}

/// Counts 30 clicks of three users in 1-second windows on `seen.p`, the
/// processing time, declared by `tables` (`{port}` is the producer's port).
/// A watchdog ends the query after a minute, so a window that never closes
/// fails the test instead of hanging it.
fn processing_time_window_closes_by_the_clock(tables: &str) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let data_dir = tempfile::tempdir().unwrap();
    let tables = tables.replace("{port}", &port.to_string());
    let sql = format!(
        "{tables}
         SELECT user, COUNT(*) AS n, CAST(window_end AS BIGINT) - CAST(window_start AS BIGINT) AS len
         FROM TABLE(TUMBLE(TABLE seen, DESCRIPTOR(p), INTERVAL '1' SECOND))
         GROUP BY user, window_start, window_end;"
    );
    let mut child = Command::new(BIN)
        .args(["--format", "csv", "-c", &sql, "--data-dir"])
        .arg(data_dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut producer, _) = listener.accept().unwrap();
    let pid = child.id().to_string();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let done = std::sync::Arc::clone(&done);
        std::thread::spawn(move || {
            for _ in 0..600 {
                if done.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = Command::new("kill").arg(&pid).status();
        })
    };
    for second in 0..30 {
        producer.write_all(click(second).as_bytes()).unwrap();
    }
    producer.flush().unwrap();

    // Read until every click is counted, the producer still connected.
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let mut counted = std::collections::BTreeMap::<String, u64>::new();
    let mut line = String::new();
    output.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "user,n,len");
    while counted.values().sum::<u64>() < 30 {
        line.clear();
        let read = output.read_line(&mut line).unwrap();
        assert!(
            read > 0,
            "the query ended before its windows closed by the clock"
        );
        let cells: Vec<&str> = line.trim().split(',').collect();
        assert_eq!(cells[2], "1000", "a 1-second window: {line}");
        *counted.entry(cells[0].to_string()).or_default() += cells[1].parse::<u64>().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let expected: std::collections::BTreeMap<String, u64> = [("u0", 10), ("u1", 10), ("u2", 10)]
        .map(|(u, n)| (u.to_string(), n))
        .into();
    assert_eq!(counted, expected);
    drop(producer);
    let rest: Vec<String> = output.lines().map(Result::unwrap).collect();
    assert!(rest.is_empty(), "no click is counted twice: {rest:?}");
    assert!(child.wait().unwrap().success());
    watchdog.join().unwrap();
}

/// Runs a stateless query over a client-mode source fed `input`, returning
/// the rows' `a` values and the malformed count (checking that every row
/// read was counted), or the values read before the error and the error.
async fn read_all(
    input: impl AsRef<[u8]> + Send + 'static,
    options: &str,
) -> Result<(Vec<i64>, u64), (Vec<i64>, String)> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let producer = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(input.as_ref()).unwrap();
    });
    let engine = Engine::builder()
        .data_dir(std::env::temp_dir())
        .build()
        .await
        .unwrap();
    engine
        .execute(&format!(
            "CREATE TABLE t (a BIGINT, b VARCHAR) WITH ('connector' = 'tcp', 'hostname' = '127.0.0.1',
             'port' = '{port}', 'format' = 'json'{options})"
        ))
        .await
        .unwrap();
    let mut stream = engine
        .query("SELECT a FROM t")
        .await
        .map_err(|e| (vec![], e.to_string()))?;
    let metrics = stream.metrics().unwrap();
    let mut values = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => return Err((values, e.to_string())),
        };
        values.extend(batch.column(0).as_primitive::<Int64Type>().iter().flatten());
    }
    producer.join().unwrap();
    // Rows read are counted at the source, with or without a WATERMARK
    // (this table has none: it reported 0 when only the watermark operator
    // counted them).
    assert_eq!(metrics.rows_in(), values.len() as u64);
    Ok((values, metrics.malformed()))
}

const BAD_INPUT: &[u8] = b"{\"a\": 1, \"b\": \"x\"}\n{\"a\": 2}\n{\"a\": nope}\n\xff\xfe\x00garbage\n{\"a\": 5, \"b\": \"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\"}\n{\"a\": 6}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_records_fail_the_query_with_their_line() {
    let (before, err) = read_all(BAD_INPUT, "").await.unwrap_err();
    // The good rows before the malformed one are emitted first.
    assert_eq!(before, [1, 2]);
    assert!(
        err.contains("tcp source 't': malformed json record at line 3 from 127.0.0.1:"),
        "{err}"
    );
    assert!(err.contains("'{\"a\": nope}'"), "{err}");
    assert!(err.contains("'json.ignore-parse-errors' = 'true'"), "{err}");
}

/// A record nested 30,000 levels deep (which aborted the process with a
/// stack overflow) and a half record at the close (which was taken as
/// data) are malformed records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_and_half_records_are_malformed() {
    let deep = format!(
        "{{\"a\": 1}}\n{{\"a\": 2, \"b\": {}{}}}\n{{\"a\": 3}}\n{{\"a\": 4, \"b\": \"cut",
        "[".repeat(30_000),
        "]".repeat(30_000)
    );
    let (values, malformed) = read_all(deep.clone(), ", 'json.ignore-parse-errors' = 'true'")
        .await
        .unwrap();
    assert_eq!(values, [1, 3]);
    assert_eq!(malformed, 2);
    let (before, err) = read_all(deep, "").await.unwrap_err();
    assert_eq!(before, [1]);
    assert!(err.contains("nested deeper than 1000 levels"), "{err}");
    let (before, err) = read_all("{\"a\": 1}\n{\"a\": 2", "").await.unwrap_err();
    assert_eq!(before, [1]);
    assert!(
        err.contains("the connection closed before the line ended"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_records_are_skipped_and_counted_when_asked() {
    // Line 3 is not JSON, line 4 is binary garbage, line 5 is longer than
    // the 64-byte limit: three skipped, nothing else lost.
    let (values, malformed) = read_all(
        BAD_INPUT,
        ", 'json.ignore-parse-errors' = 'true', 'max-line-bytes' = '64'",
    )
    .await
    .unwrap();
    assert_eq!(values, [1, 2, 6]);
    assert_eq!(malformed, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_source_counts_every_row_of_many_producers_once() {
    let engine = Engine::builder()
        .data_dir(std::env::temp_dir())
        .build()
        .await
        .unwrap();
    engine
        .execute(
            "CREATE TABLE events (producer BIGINT, seq BIGINT) WITH ('connector' = 'tcp',
             'mode' = 'server', 'hostname' = '127.0.0.1', 'port' = '0', 'format' = 'csv')",
        )
        .await
        .unwrap();
    let mut stream = engine
        .query("SELECT producer, seq FROM events")
        .await
        .unwrap();
    let address = stream.metrics().unwrap().listening_on().expect("listening");
    const PRODUCERS: i64 = 20;
    const ROWS: i64 = 500;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            std::thread::spawn(move || {
                let mut socket = TcpStream::connect(address).unwrap();
                let text: String = (0..ROWS).map(|seq| format!("{p},{seq}\n")).collect();
                socket.write_all(text.as_bytes()).unwrap();
            })
        })
        .collect();
    let mut seen = HashSet::new();
    while seen.len() < (PRODUCERS * ROWS) as usize {
        let batch = tokio::time::timeout(Duration::from_secs(120), stream.next())
            .await
            .expect("rows within two minutes")
            .expect("the server stream does not end")
            .unwrap();
        let producer = batch.column(0).as_primitive::<Int64Type>();
        let seq = batch.column(1).as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            assert!(
                seen.insert((producer.value(row), seq.value(row))),
                "row {:?} counted twice",
                (producer.value(row), seq.value(row))
            );
        }
    }
    for producer in producers {
        producer.join().unwrap();
    }
    let expected: HashSet<(i64, i64)> = (0..PRODUCERS)
        .flat_map(|p| (0..ROWS).map(move |s| (p, s)))
        .collect();
    assert_eq!(seen, expected);
}

/// A server-mode source reads at most 'max-connections' producers at once
/// (a second waits until the first closes) and disconnects a producer
/// silent for 'idle-timeout', its half line counted as malformed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_source_bounds_its_connections() {
    let engine = Engine::builder()
        .data_dir(std::env::temp_dir())
        .build()
        .await
        .unwrap();
    engine
        .execute(
            "CREATE TABLE events (a BIGINT) WITH ('connector' = 'tcp', 'mode' = 'server',
             'hostname' = '127.0.0.1', 'port' = '0', 'format' = 'json',
             'max-connections' = '1', 'idle-timeout' = '2s', 'json.ignore-parse-errors' = 'true')",
        )
        .await
        .unwrap();
    let mut stream = engine.query("SELECT a FROM events").await.unwrap();
    let metrics = stream.metrics().unwrap();
    let address = metrics.listening_on().expect("listening");
    let mut next_value = async || -> i64 {
        let batch = tokio::time::timeout(Duration::from_secs(120), stream.next())
            .await
            .expect("rows within two minutes")
            .expect("the server stream does not end")
            .unwrap();
        assert_eq!(batch.num_rows(), 1);
        batch.column(0).as_primitive::<Int64Type>().value(0)
    };
    let mut first = TcpStream::connect(address).unwrap();
    first.write_all(b"{\"a\": 1}\n").unwrap();
    assert_eq!(next_value().await, 1);
    // The second producer connects and sends, but is not read while the
    // first is: its row comes after the first's last one.
    let mut second = TcpStream::connect(address).unwrap();
    second.write_all(b"{\"a\": 2}\n").unwrap();
    first.write_all(b"{\"a\": 3}\n").unwrap();
    assert_eq!(next_value().await, 3);
    drop(first);
    assert_eq!(next_value().await, 2);
    // Now silent, with half a line sent: disconnected after the timeout.
    second.write_all(b"{\"a\": ").unwrap();
    second
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut rest = Vec::new();
    let read = std::io::Read::read_to_end(&mut second, &mut rest).unwrap();
    assert_eq!(read, 0, "the server closed the connection");
    // The half record is counted once the source takes it in.
    let waited = std::time::Instant::now();
    while metrics.malformed() == 0 {
        assert!(waited.elapsed() < Duration::from_secs(120), "never counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(metrics.malformed(), 1);
}

#[tokio::test]
async fn a_refused_connection_names_host_and_port() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let engine = Engine::builder()
        .data_dir(std::env::temp_dir())
        .build()
        .await
        .unwrap();
    engine
        .execute(&format!(
            "CREATE TABLE t (a BIGINT) WITH ('connector' = 'tcp', 'hostname' = '127.0.0.1',
             'port' = '{port}', 'format' = 'json')"
        ))
        .await
        .unwrap();
    let err = engine
        .query("SELECT a FROM t")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_sink_sends_every_result_row_as_a_json_line() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        BufReader::new(stream)
            .lines()
            .map(Result::unwrap)
            .collect::<Vec<String>>()
    });
    let engine = Engine::builder()
        .data_dir(std::env::temp_dir())
        .build()
        .await
        .unwrap();
    engine
        .execute(&format!(
            "CREATE TABLE bids (auction BIGINT, price DOUBLE, ts TIMESTAMP(3),
               WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
             WITH ('connector' = 'filesystem', 'path' = 'data/bids/', 'format' = 'parquet');
             CREATE TABLE out (minute TIMESTAMP(3), bids BIGINT)
             WITH ('connector' = 'tcp', 'hostname' = '127.0.0.1', 'port' = '{port}', 'format' = 'json');
             INSERT INTO out SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
             GROUP BY window_start, window_end"
        ))
        .await
        .unwrap();
    let jobs = engine.jobs().wait_all().await;
    assert_eq!(jobs[0].state, flowsql::JobState::Finished);
    let mut lines = reader.join().unwrap();
    lines.sort();
    assert_eq!(
        lines,
        [
            r#"{"minute":"2026-01-01T10:00:00","bids":164}"#,
            r#"{"minute":"2026-01-01T10:01:00","bids":166}"#,
            r#"{"minute":"2026-01-01T10:02:00","bids":149}"#,
            r#"{"minute":"2026-01-01T10:03:00","bids":165}"#,
            r#"{"minute":"2026-01-01T10:04:00","bids":156}"#,
            r#"{"minute":"2026-01-01T10:05:00","bids":168}"#,
            r#"{"minute":"2026-01-01T10:06:00","bids":32}"#,
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_source_with_reconnect_reads_across_connections() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Two connections in turn: the source reconnects after the first closes.
    let producer = std::thread::spawn(move || {
        for part in [b"1\n2\n" as &[u8], b"3\n4\n"] {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(part).unwrap();
        }
    });
    let engine = Engine::builder()
        .data_dir(std::env::temp_dir())
        .build()
        .await
        .unwrap();
    engine
        .execute(&format!(
            "CREATE TABLE t (a BIGINT) WITH ('connector' = 'tcp', 'hostname' = '127.0.0.1',
             'port' = '{port}', 'format' = 'csv', 'reconnect' = 'true')"
        ))
        .await
        .unwrap();
    let mut stream = engine.query("SELECT a FROM t").await.unwrap();
    let mut values = Vec::new();
    while values.len() < 4 {
        let batch = tokio::time::timeout(Duration::from_secs(120), stream.next())
            .await
            .expect("rows within two minutes")
            .expect("a reconnecting source does not end")
            .unwrap();
        values.extend(batch.column(0).as_primitive::<Int64Type>().iter().flatten());
    }
    assert_eq!(values, [1, 2, 3, 4]);
    producer.join().unwrap();
}

/// A client-mode sink whose peer goes away fails its job, saying how many
/// rows reached the peer (it dropped every row after, and the job finished).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_sink_fails_its_job_when_the_peer_goes_away() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        // Read a few lines, then hang up.
        let lines = BufReader::new(stream).lines().take(10).count();
        assert_eq!(lines, 10);
    });
    let engine = Engine::builder()
        .data_dir(std::env::temp_dir())
        .build()
        .await
        .unwrap();
    engine
        .execute(&format!(
            "CREATE TABLE gen (auction BIGINT, price BIGINT, date_time TIMESTAMP(3))
             WITH ('connector' = 'nexmark', 'table' = 'bid', 'events' = '2000000');
             CREATE TABLE out (auction BIGINT, price BIGINT)
             WITH ('connector' = 'tcp', 'hostname' = '127.0.0.1', 'port' = '{port}', 'format' = 'json');
             INSERT INTO out SELECT auction, price FROM gen"
        ))
        .await
        .unwrap();
    let jobs = engine.jobs().wait_all().await;
    reader.join().unwrap();
    match &jobs[0].state {
        flowsql::JobState::Failed(error) => {
            assert!(error.contains("went away after"), "{error}");
            assert!(error.contains("'reconnect' = 'true'"), "{error}");
        }
        other => panic!("the job is {other:?}"),
    }
}

/// A server-mode sink writes to each reader from its own buffer: a reader
/// that never reads is dropped once it is far behind (and SHOW JOBS says
/// so), and the others get every row (one stalled all of them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_sink_drops_a_reader_that_does_not_read() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let root = tempfile::tempdir().unwrap();
    let input = root.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let engine = Engine::builder()
        .data_dir(root.path())
        .build()
        .await
        .unwrap();
    engine
        .execute(&format!(
            "CREATE TABLE events (k BIGINT, pad VARCHAR, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
             WITH ('connector' = 'filesystem', 'path' = '{}/', 'format' = 'csv', 'source.monitor-interval' = '50ms');
             CREATE TABLE out (k BIGINT, pad VARCHAR)
             WITH ('connector' = 'tcp', 'mode' = 'server', 'hostname' = '127.0.0.1', 'port' = '{port}', 'format' = 'csv');
             INSERT INTO out SELECT k, pad FROM events",
            input.display()
        ))
        .await
        .unwrap();
    // Connect both readers before any row flows.
    let connect = || loop {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
            return stream;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stalled = connect();
    let reading = connect();
    const ROWS: usize = 400_000;
    let reader = std::thread::spawn(move || {
        BufReader::new(reading)
            .lines()
            .take(ROWS)
            .map(Result::unwrap)
            .count()
    });
    std::thread::sleep(Duration::from_millis(200));
    let pad = "x".repeat(100);
    let mut text = String::from("k,pad,ts\n");
    for k in 0..ROWS {
        text += &format!("{k},{pad},2026-01-01T10:00:00\n");
    }
    let staging = root.path().join("rows.csv");
    std::fs::write(&staging, text).unwrap();
    std::fs::rename(&staging, input.join("rows.csv")).unwrap();
    // ~45 MB of lines: more than a reader's buffer and the sockets' hold.
    assert_eq!(reader.join().unwrap(), ROWS);
    let jobs = engine.jobs().list();
    assert!(
        jobs[0]
            .warnings
            .iter()
            .any(|w| w.contains("fell more than 16 MiB behind")),
        "{:?}",
        jobs[0].warnings
    );
    drop(stalled);
    engine.jobs().stop_all().await;
}
