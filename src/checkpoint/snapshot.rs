//! `Snapshot`: what one operator (or source) holds at a checkpoint, as
//! named numbers and named tables of Arrow rows, so any state a window
//! keeps — rows of open windows, DataFusion's partial aggregate states
//! (`Accumulator::state`, DISTINCT and user-defined aggregates included),
//! held session rows — is written the same way: as Arrow IPC.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int64Array};
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::arrow::ipc::reader::StreamDecoder;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};

/// One operator's state: numbers and tables by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Single values (a watermark, a counter, a window's end).
    pub values: BTreeMap<String, i64>,
    /// Rows (a window's rows, a slice's partial states), each table of
    /// batches sharing one schema.
    pub tables: BTreeMap<String, Vec<RecordBatch>>,
}

impl Snapshot {
    /// True when the operator holds nothing.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.tables.is_empty()
    }

    /// Sets value `name`.
    pub fn set(&mut self, name: impl Into<String>, value: i64) {
        self.values.insert(name.into(), value);
    }

    /// Value `name`, if set.
    pub fn get(&self, name: &str) -> Option<i64> {
        self.values.get(name).copied()
    }

    /// Takes value `name`, if set.
    pub fn take(&mut self, name: &str) -> Option<i64> {
        self.values.remove(name)
    }

    /// Sets table `name` (nothing when `batches` is empty).
    pub fn set_table(&mut self, name: impl Into<String>, batches: Vec<RecordBatch>) {
        if !batches.is_empty() {
            self.tables.insert(name.into(), batches);
        }
    }

    /// Takes table `name` (empty when absent).
    pub fn take_table(&mut self, name: &str) -> Vec<RecordBatch> {
        self.tables.remove(name).unwrap_or_default()
    }

    /// Sets table `name` to pairs of numbers (two Int64 columns).
    pub fn set_pairs(&mut self, name: impl Into<String>, pairs: &[(i64, i64)]) -> Result<()> {
        if pairs.is_empty() {
            return Ok(());
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("b", DataType::Int64, false),
        ]));
        let a = Int64Array::from_iter_values(pairs.iter().map(|p| p.0));
        let b = Int64Array::from_iter_values(pairs.iter().map(|p| p.1));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(a), Arc::new(b)])?;
        self.set_table(name, vec![batch]);
        Ok(())
    }

    /// Takes table `name` as pairs of numbers (see [`Snapshot::set_pairs`]).
    pub fn take_pairs(&mut self, name: &str) -> Result<Vec<(i64, i64)>> {
        let mut pairs = Vec::new();
        for batch in self.take_table(name) {
            let column = |i: usize| -> Result<&Int64Array> {
                batch
                    .columns()
                    .get(i)
                    .and_then(|c| c.as_primitive_opt::<Int64Type>())
                    .filter(|c| c.null_count() == 0)
                    .ok_or_else(|| bad_state(name))
            };
            let (a, b) = (column(0)?, column(1)?);
            pairs.extend(a.values().iter().copied().zip(b.values().iter().copied()));
        }
        Ok(pairs)
    }

    /// An error unless everything was taken: a restore that leaves part of
    /// a snapshot unread was given another operator's state.
    pub fn expect_consumed(&self, operator: &str) -> Result<()> {
        match self.tables.keys().chain(self.values.keys()).next() {
            None => Ok(()),
            Some(name) => Err(Error::query(format!(
                "the checkpoint holds state '{name}' that the {operator} does not have; \
                 it was taken by a different query"
            ))),
        }
    }
}

/// `batches` (one schema) as Arrow IPC stream bytes.
pub fn encode_table(batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let mut writer = StreamWriter::try_new(Vec::new(), &first.schema())?;
    for batch in batches {
        writer.write(batch)?;
    }
    Ok(writer.into_inner()?)
}

/// Batches from Arrow IPC stream bytes (see [`encode_table`]). Arrow's IPC
/// reader panics on some malformed input (found by the checkpoint fuzz
/// target: unknown types, buffers past the end); a forged or damaged table
/// whose checksum matches is an error here, never a panic.
pub fn decode_table(bytes: &[u8]) -> Result<Vec<RecordBatch>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    // The push decoder over the whole table in one buffer: a message's
    // length fields can only slice what is there (a damaged length is
    // "unexpected end of stream"), where `StreamReader` would first
    // allocate whatever size a damaged length field names and abort.
    let decode = || -> Result<Vec<RecordBatch>> {
        let mut decoder = StreamDecoder::new();
        let mut buffer = Buffer::from(bytes);
        let mut batches = Vec::new();
        while !buffer.is_empty() {
            if let Some(batch) = decoder.decode(&mut buffer)? {
                batches.push(batch);
            }
        }
        decoder.finish()?;
        Ok(batches)
    };
    std::panic::catch_unwind(decode).unwrap_or_else(|_| {
        Err(Error::Data(
            "a checkpoint table is not valid Arrow IPC (damaged or forged)".into(),
        ))
    })
}

fn bad_state(name: &str) -> Error {
    Error::query(format!(
        "the checkpoint's state '{name}' is not what this query keeps there; \
         it was taken by a different query"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_tables_round_trip_through_ipc() {
        let mut snapshot = Snapshot::default();
        snapshot.set("watermark", 42);
        snapshot.set_pairs("pending", &[(10, 0), (20, 10)]).unwrap();
        let bytes = encode_table(&snapshot.tables["pending"]).unwrap();
        let mut restored = Snapshot::default();
        restored.set_table("pending", decode_table(&bytes).unwrap());
        assert_eq!(restored.take_pairs("pending").unwrap(), [(10, 0), (20, 10)]);
        assert_eq!(snapshot.get("watermark"), Some(42));
        restored.expect_consumed("test").unwrap();
        assert!(snapshot.expect_consumed("test").is_err());
    }

    /// The class of input the checkpoint fuzz target found: IPC bytes with
    /// a matching checksum but damaged inside. Every byte of a real table
    /// set to 0x00 and to 0xFF (a length field raised to 0xFF.. once made
    /// Arrow allocate terabytes and abort, which no catch can stop), and
    /// every truncation: errors, no panic, no abort.
    #[test]
    fn damaged_tables_are_errors_not_panics() {
        let mut snapshot = Snapshot::default();
        snapshot.set_pairs("pending", &[(10, 0), (20, 10)]).unwrap();
        let bytes = encode_table(&snapshot.tables["pending"]).unwrap();
        // Arrow's panics print; the test only cares that they are caught.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            for byte in [0x00, 0xFF] {
                damaged[at] = byte;
                let _ = decode_table(&damaged);
            }
            let _ = decode_table(&bytes[..at]);
        }
        std::panic::set_hook(hook);
        assert_eq!(decode_table(&bytes).unwrap(), snapshot.tables["pending"]);
    }
}
