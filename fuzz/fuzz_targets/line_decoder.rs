//! Feeds arbitrary bytes, split into lines at `\n`, to
//! `flowsql::internals::line_decoder::LineDecoder` in both formats (JSON
//! and CSV) over a fixed schema of BIGINT, DOUBLE, VARCHAR, TIMESTAMP(3)
//! and BOOLEAN columns, as the TCP source does with what peers send.
//!
//! Checks: decoding never panics, whatever the bytes; skipping malformed
//! lines (`ignore_parse_errors`) never fails and accounts for every line
//! (rows decoded + lines skipped = lines); the strict decoder fails exactly
//! when the skipping one skips something, and otherwise decodes every line;
//! the batches have the declared schema.

#![no_main]

use std::sync::{Arc, LazyLock};

use flowsql::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use flowsql::internals::line_decoder::{Line, LineDecoder, LineFormat};
use libfuzzer_sys::fuzz_target;

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("price", DataType::Float64, true),
        Field::new("item", DataType::Utf8, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("ok", DataType::Boolean, true),
    ]))
});

/// The TCP source's default 'max-line-bytes' is far larger than any input
/// here; a small limit lets the fuzzer reach the too-long path too.
const MAX_LINE_BYTES: usize = 4096;

fn lines(data: &[u8]) -> Vec<Line> {
    let peer: Arc<str> = Arc::from("127.0.0.1:9");
    let pieces: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    let last = pieces.len() - 1;
    pieces
        .into_iter()
        .enumerate()
        // As the TCP reader: nothing after the last newline sends nothing;
        // something is a half record (the producer closed mid-line).
        .filter(|(i, bytes)| *i < last || !bytes.is_empty())
        .map(|(i, bytes)| {
            let too_long = bytes.len() > MAX_LINE_BYTES;
            Line {
                bytes: bytes[..bytes.len().min(MAX_LINE_BYTES)].to_vec(),
                number: i as u64 + 1,
                peer: Arc::clone(&peer),
                too_long,
                complete: i < last,
            }
        })
        .collect()
}

fn check(format: LineFormat, lines: &[Line]) {
    let schema = Arc::clone(&SCHEMA);
    let skipping = LineDecoder::new(Arc::clone(&schema), format, true, "fuzz".into());
    let strict = LineDecoder::new(Arc::clone(&schema), format, false, "fuzz".into());
    let skipped = match skipping.decode(lines) {
        Ok(decoded) => {
            let rows = decoded.batch.as_ref().map_or(0, |b| b.num_rows());
            if let Some(batch) = &decoded.batch {
                assert_eq!(batch.schema(), schema, "{format:?}: schema changed");
            }
            assert_eq!(
                rows + decoded.skipped,
                lines.len(),
                "{format:?}: {rows} rows and {} skipped from {} lines",
                decoded.skipped,
                lines.len()
            );
            decoded.skipped
        }
        Err(e) => panic!("{format:?}: skipping malformed lines failed: {e}"),
    };
    match strict.decode(lines) {
        Ok(decoded) => {
            let rows = decoded.batch.as_ref().map_or(0, |b| b.num_rows());
            match decoded.error {
                // The rows before the first malformed line, then its error.
                Some(_) => assert!(skipped > 0, "{format:?}: strict failed, skipping dropped none"),
                None => {
                    assert_eq!(skipped, 0, "{format:?}: strict accepted what skipping dropped");
                    assert_eq!(rows, lines.len(), "{format:?}: strict lost lines");
                }
            }
        }
        Err(_) => assert!(skipped > 0, "{format:?}: strict failed, skipping dropped none"),
    }
}

fuzz_target!(|data: &[u8]| {
    let lines = lines(data);
    check(LineFormat::Json, &lines);
    check(LineFormat::Csv, &lines);
});
