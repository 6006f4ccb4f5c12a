//! TCP ingest: CSV and JSON lines of ~100 bytes over loopback into a
//! tumbling count, beside a plain socket read of the same bytes (the
//! ceiling: no decoding, no query) in the same group.
//!
//! Run: `cargo bench --bench tcp_ingest`. Each iteration starts a producer
//! thread that listens on 127.0.0.1 (port chosen by the OS), lets flowsql
//! connect in client mode, writes every line and closes; the query ends when
//! the connection closes.

use std::io::{Read, Write};
use std::net::TcpListener;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flowsql::Engine;
use futures::StreamExt;

const LINES: usize = 1_000_000;

/// ~100-byte lines: 200 auctions, one line per millisecond of event time.
fn lines(json: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(LINES * 110);
    for i in 0..LINES {
        let ts_ms = i as i64;
        let ts = format!(
            "2026-01-01T10:{:02}:{:02}.{:03}",
            ts_ms / 60_000 % 60,
            ts_ms / 1000 % 60,
            ts_ms % 1000
        );
        let line = if json {
            format!(
                "{{\"auction\":{},\"bidder\":{},\"price\":{}.{:02},\"ts\":\"{ts}\",\"channel\":\"web-{:04}\"}}\n",
                i % 200,
                i % 9973,
                i % 500,
                i % 100,
                i % 1000
            )
        } else {
            format!(
                "{},{},{}.{:02},{ts},channel-web-{:04},extra-padding-to-a-hundred-bytes-per-line\n",
                i % 200,
                i % 9973,
                i % 500,
                i % 100,
                i % 1000
            )
        };
        out.extend_from_slice(line.as_bytes());
    }
    out
}

/// Serves `bytes` to the first connection on a fresh port; returns the port.
fn serve(bytes: &'static [u8]) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let producer = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        socket.write_all(bytes).unwrap();
    });
    (port, producer)
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let engine = runtime.block_on(async {
        Engine::builder()
            .data_dir(std::env::temp_dir())
            .build()
            .await
            .unwrap()
    });
    let mut group = c.benchmark_group("tcp_ingest_1M_lines");
    group.throughput(Throughput::Elements(LINES as u64));
    group.sample_size(10);

    for (format, json) in [("csv", false), ("json", true)] {
        let bytes: &'static [u8] = Box::leak(lines(json).into_boxed_slice());
        group.bench_function(format!("socket_read_{format}"), |b| {
            b.iter(|| {
                let (port, producer) = serve(bytes);
                let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                let mut buf = vec![0u8; 64 * 1024];
                let mut newlines = 0;
                loop {
                    let n = socket.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    newlines += buf[..n].iter().filter(|b| **b == b'\n').count();
                }
                producer.join().unwrap();
                assert_eq!(newlines, LINES);
            })
        });
        group.bench_function(format!("flowsql_tumbling_count_{format}"), |b| {
            b.to_async(&runtime).iter(|| async {
                let (port, producer) = serve(bytes);
                engine
                    .execute(&format!(
                        "CREATE OR REPLACE TABLE bids (auction BIGINT, bidder BIGINT, price DOUBLE, ts TIMESTAMP(3),
                           channel VARCHAR{extra}, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
                         WITH ('connector' = 'tcp', 'hostname' = '127.0.0.1', 'port' = '{port}', 'format' = '{format}')",
                        extra = if json { "" } else { ", padding VARCHAR" }
                    ))
                    .await
                    .unwrap();
                let mut results = engine
                    .query(
                        "SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
                         GROUP BY window_start, window_end",
                    )
                    .await
                    .unwrap();
                let mut counted = 0i64;
                while let Some(batch) = results.next().await {
                    let batch = batch.unwrap();
                    let counts = batch.column(1).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().unwrap();
                    counted += counts.iter().flatten().sum::<i64>();
                }
                producer.join().unwrap();
                assert_eq!(counted, LINES as i64);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
