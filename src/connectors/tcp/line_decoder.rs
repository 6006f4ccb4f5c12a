//! `LineDecoder`: lines of JSON or CSV (one record per line) into record
//! batches, with Arrow's own decoders.
//!
//! Lines are collected into a batch and decoded together (the fast path). If
//! that fails, the batch is decoded again line by line to find the malformed
//! ones: with `ignore_parse_errors` they are skipped and counted, otherwise
//! the first one fails the query with the source, its line number and an
//! excerpt. Nothing well-formed is lost either way.

use std::sync::Arc;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::{csv, json};

use crate::connectors::json_depth::{too_deep, MAX_JSON_DEPTH};
use crate::error::{Error, Result};

/// The record format of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    /// One JSON object per line.
    Json,
    /// One CSV record per line, columns in declaration order, no header.
    Csv,
}

impl LineFormat {
    /// `json` or `csv`.
    pub fn name(self) -> &'static str {
        match self {
            LineFormat::Json => "json",
            LineFormat::Csv => "csv",
        }
    }
}

/// One line and where it came from.
#[derive(Debug, Clone)]
pub struct Line {
    /// The line's bytes, without the newline.
    pub bytes: Vec<u8>,
    /// Its number within its connection, from 1.
    pub number: u64,
    /// Which peer sent it (for messages).
    pub peer: Arc<str>,
    /// Set when the line was longer than allowed (and cut).
    pub too_long: bool,
    /// False when the connection closed before the line's newline: the
    /// producer stopped mid-record.
    pub complete: bool,
}

/// Decodes batches of lines.
pub struct LineDecoder {
    schema: SchemaRef,
    format: LineFormat,
    ignore_parse_errors: bool,
    source: String,
}

/// What decoding a batch of lines gave.
#[derive(Debug)]
pub struct Decoded {
    /// The records of the well-formed lines (without `ignore_parse_errors`:
    /// those before the first malformed one).
    pub batch: Option<RecordBatch>,
    /// How many malformed lines were skipped.
    pub skipped: usize,
    /// The first malformed line, without `ignore_parse_errors`: the query
    /// fails with it once the rows before it are emitted.
    pub error: Option<Error>,
}

impl LineDecoder {
    /// A decoder for `source` (a name for messages).
    pub fn new(
        schema: SchemaRef,
        format: LineFormat,
        ignore_parse_errors: bool,
        source: String,
    ) -> Self {
        LineDecoder {
            schema,
            format,
            ignore_parse_errors,
            source,
        }
    }

    /// Decodes `lines` into one batch.
    pub fn decode(&self, lines: &[Line]) -> Result<Decoded> {
        if lines.iter().all(|l| self.problem(l).is_none()) {
            if let Ok(batch) = self.decode_all(lines) {
                return Ok(Decoded {
                    batch: Some(batch),
                    skipped: 0,
                    error: None,
                });
            }
        }
        // Slow path: find the malformed lines.
        let mut good = Vec::new();
        let mut skipped = 0;
        let mut error = None;
        for line in lines {
            let problem = self.problem(line).or_else(|| {
                self.decode_all(std::slice::from_ref(line))
                    .map(|batch| good.push(batch))
                    .err()
                    .map(|e| e.to_string())
            });
            if let Some(problem) = problem {
                if !self.ignore_parse_errors {
                    error = Some(Error::Data(format!(
                        "{}: malformed {} record at line {} from {}: {problem}: {}; \
                         set '{}.ignore-parse-errors' = 'true' to skip such records",
                        self.source,
                        self.format.name(),
                        line.number,
                        line.peer,
                        excerpt(&line.bytes),
                        self.format.name()
                    )));
                    break;
                }
                skipped += 1;
            }
        }
        let batch = if good.is_empty() {
            None
        } else {
            Some(concat_batches(&self.schema, &good)?)
        };
        Ok(Decoded {
            batch,
            skipped,
            error,
        })
    }

    /// What makes `line` malformed before it is decoded, if anything.
    fn problem(&self, line: &Line) -> Option<String> {
        if line.too_long {
            return Some("the line is longer than 'max-line-bytes'".to_string());
        }
        if !line.complete {
            return Some("the connection closed before the line ended".to_string());
        }
        if std::str::from_utf8(&line.bytes).is_err() {
            return Some("the line is not valid UTF-8".to_string());
        }
        if self.format == LineFormat::Json && too_deep(&line.bytes) {
            return Some(format!(
                "the record is nested deeper than {MAX_JSON_DEPTH} levels"
            ));
        }
        None
    }

    fn decode_all(&self, lines: &[Line]) -> Result<RecordBatch> {
        let mut buffer = Vec::with_capacity(lines.iter().map(|l| l.bytes.len() + 1).sum());
        for line in lines {
            buffer.extend_from_slice(&line.bytes);
            buffer.push(b'\n');
        }
        let batch = match self.format {
            LineFormat::Json => {
                let mut decoder = json::ReaderBuilder::new(Arc::clone(&self.schema))
                    .with_batch_size(lines.len().max(1))
                    .build_decoder()?;
                let consumed = decoder.decode(&buffer)?;
                if consumed < buffer.len() {
                    return Err(Error::Data("trailing data after the last record".into()));
                }
                decoder.flush()?
            }
            LineFormat::Csv => {
                let mut decoder = csv::ReaderBuilder::new(Arc::clone(&self.schema))
                    .with_header(false)
                    .with_batch_size(lines.len().max(1))
                    .build_decoder();
                let mut offset = 0;
                while offset < buffer.len() {
                    let consumed = decoder.decode(&buffer[offset..])?;
                    if consumed == 0 {
                        break;
                    }
                    offset += consumed;
                }
                decoder.decode(&[])?;
                decoder.flush()?
            }
        };
        let batch = batch.unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(&self.schema)));
        if batch.num_rows() != lines.len() {
            return Err(Error::Data(format!(
                "{} records decoded from {} lines",
                batch.num_rows(),
                lines.len()
            )));
        }
        Ok(batch)
    }
}

/// The start of a line, printable.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(80)]);
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if bytes.len() > 80 {
        format!("'{text}...'")
    } else {
        format!("'{text}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    fn lines(texts: &[&[u8]]) -> Vec<Line> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| Line {
                bytes: t.to_vec(),
                number: i as u64 + 1,
                peer: Arc::from("127.0.0.1:9"),
                too_long: false,
                complete: true,
            })
            .collect()
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
        ]))
    }

    #[test]
    fn decodes_json_and_csv_lines() {
        let json = LineDecoder::new(schema(), LineFormat::Json, false, "s".into());
        let out = json
            .decode(&lines(&[br#"{"a": 1, "b": "x"}"#, br#"{"a": 2}"#]))
            .unwrap();
        assert_eq!(out.batch.unwrap().num_rows(), 2);
        let csv = LineDecoder::new(schema(), LineFormat::Csv, false, "s".into());
        let out = csv.decode(&lines(&[b"1,x", b"2,y", b"3,"])).unwrap();
        assert_eq!(out.batch.unwrap().num_rows(), 3);
    }

    #[test]
    fn malformed_lines_are_skipped_or_reported() {
        let input = lines(&[br#"{"a": 1}"#, b"{oops", b"\xff\xfe", br#"{"a": 4}"#]);
        let skipping = LineDecoder::new(schema(), LineFormat::Json, true, "s".into());
        let out = skipping.decode(&input).unwrap();
        assert_eq!(out.batch.unwrap().num_rows(), 2);
        assert_eq!(out.skipped, 2);
        let strict = LineDecoder::new(schema(), LineFormat::Json, false, "clicks".into());
        let out = strict.decode(&input).unwrap();
        // The good line before the malformed one is kept, to be emitted first.
        assert_eq!(out.batch.unwrap().num_rows(), 1);
        let err = out.error.unwrap().to_string();
        assert!(
            err.contains("clicks: malformed json record at line 2"),
            "{err}"
        );
        assert!(err.contains("'{oops'"), "{err}");
    }

    #[test]
    fn deep_json_and_unterminated_lines_are_malformed() {
        let deep = format!(
            r#"{{"a": 1, "b": {}{}}}"#,
            "[".repeat(30_000),
            "]".repeat(30_000)
        );
        let fine = format!(r#"{{"a": 1, "c": "{}"}}"#, "[".repeat(30_000));
        let mut input = lines(&[
            deep.as_bytes(),
            fine.as_bytes(),
            br#"{"a": 3}"#,
            br#"{"a": 4"#,
        ]);
        input[3].complete = false;
        let skipping = LineDecoder::new(schema(), LineFormat::Json, true, "s".into());
        let out = skipping.decode(&input).unwrap();
        assert_eq!(out.batch.unwrap().num_rows(), 2);
        assert_eq!(out.skipped, 2);
        let strict = LineDecoder::new(schema(), LineFormat::Json, false, "s".into());
        let err = strict.decode(&input).unwrap().error.unwrap().to_string();
        assert!(err.contains("nested deeper than 1000 levels"), "{err}");
        let err = strict
            .decode(&input[2..])
            .unwrap()
            .error
            .unwrap()
            .to_string();
        assert!(
            err.contains("the connection closed before the line ended"),
            "{err}"
        );
        // The deepest nesting the decoder takes is fine, in an undeclared
        // field; in a declared one of another type it is malformed, and
        // describing it does not overflow the stack.
        let limit = format!(
            r#"{{"a": 5, "c": {}{}}}"#,
            "[".repeat(MAX_JSON_DEPTH - 1),
            "]".repeat(MAX_JSON_DEPTH - 1)
        );
        let out = skipping.decode(&lines(&[limit.as_bytes()])).unwrap();
        assert_eq!(out.skipped, 0);
        let mismatched = limit.replace(r#""c""#, r#""b""#);
        let out = skipping.decode(&lines(&[mismatched.as_bytes()])).unwrap();
        assert_eq!(out.skipped, 1);
    }
}
