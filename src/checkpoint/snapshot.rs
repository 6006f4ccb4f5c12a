//! `Snapshot`: what one operator (or source) holds at a checkpoint, as
//! named numbers and named tables of Arrow rows, so any state a window
//! keeps — rows of open windows, DataFusion's partial aggregate states
//! (`Accumulator::state`, DISTINCT and user-defined aggregates included),
//! held session rows — is written the same way: as Arrow IPC.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, Int64Array, RunArray};
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema};
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

    /// Sets table `name` to one batch of the named `columns` (every field
    /// nullable): how operators write their state.
    pub fn set_columns<N: Into<String>>(
        &mut self,
        name: &str,
        columns: Vec<(N, ArrayRef)>,
    ) -> Result<()> {
        let (names, arrays): (Vec<String>, Vec<ArrayRef>) =
            columns.into_iter().map(|(n, a)| (n.into(), a)).unzip();
        let fields: Vec<Field> = names
            .iter()
            .zip(&arrays)
            .map(|(name, array)| Field::new(name, array.data_type().clone(), true))
            .collect();
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
        self.set_table(name, vec![batch]);
        Ok(())
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

/// Keyed state as one table: every batch of `groups` with its key (a
/// window end, a slice start) as a first `key` column, so an operator's
/// state of any number of windows is one table (read back by
/// [`split_keyed`]). The key column is run-end encoded: one run per batch,
/// a few bytes however many rows the batch holds.
pub fn keyed<'a>(
    key: &str,
    groups: impl IntoIterator<Item = (i64, &'a [RecordBatch])>,
) -> Result<Vec<RecordBatch>> {
    let mut table = Vec::new();
    for (value, batches) in groups {
        for batch in batches.iter().filter(|b| b.num_rows() > 0) {
            let rows = i32::try_from(batch.num_rows())
                .map_err(|_| Error::Internal("a state batch of over 2^31 rows".into()))?;
            let keys = RunArray::<Int32Type>::try_new(
                &Int32Array::from(vec![rows]),
                &Int64Array::from(vec![value]),
            )?;
            let mut fields = vec![Arc::new(Field::new(key, keys.data_type().clone(), false))];
            fields.extend(batch.schema().fields().iter().cloned());
            let mut columns: Vec<ArrayRef> = vec![Arc::new(keys)];
            columns.extend(batch.columns().iter().cloned());
            table.push(RecordBatch::try_new(
                Arc::new(Schema::new(fields)),
                columns,
            )?);
        }
    }
    Ok(table)
}

/// The groups of a table made by [`keyed`]: each key with its rows, the
/// key column taken off, in table order; each group's rows are copied out
/// of the table.
pub fn split_keyed(name: &str, table: Vec<RecordBatch>) -> Result<Vec<(i64, RecordBatch)>> {
    let mut groups = Vec::new();
    for batch in table {
        let keys = batch
            .columns()
            .first()
            .and_then(|c| c.as_run_opt::<Int32Type>())
            .ok_or_else(|| bad_state(name))?;
        let values = keys
            .values()
            .as_primitive_opt::<Int64Type>()
            .filter(|v| v.null_count() == 0)
            .ok_or_else(|| bad_state(name))?;
        let mut rest = batch.clone();
        rest.remove_column(0);
        let mut start = 0;
        for (run, &end) in keys.run_ends().values().iter().enumerate() {
            let end = usize::try_from(end).map_err(|_| bad_state(name))?;
            if end <= start || end > rest.num_rows() || run >= values.len() {
                return Err(bad_state(name));
            }
            // A copy of its own: a slice would hold (and count) the whole
            // table's buffers for each key.
            let rows = rest.slice(start, end - start);
            groups.push((values.value(run), concat_batches(&rows.schema(), [&rows])?));
            start = end;
        }
    }
    Ok(groups)
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

    #[test]
    fn keyed_tables_give_back_each_key_with_its_rows() {
        let rows = |values: Vec<i64>| {
            let column = Arc::new(Int64Array::from(values)) as ArrayRef;
            RecordBatch::try_from_iter([("x", column)]).unwrap()
        };
        let a = vec![rows(vec![1, 2]), rows(vec![3])];
        let b = vec![rows(vec![4])];
        let table = keyed("window_end", [(10, a.as_slice()), (20, b.as_slice())]).unwrap();
        let groups = split_keyed("windows", table).unwrap();
        let want = vec![(10, a[0].clone()), (10, a[1].clone()), (20, b[0].clone())];
        assert_eq!(groups, want);
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
