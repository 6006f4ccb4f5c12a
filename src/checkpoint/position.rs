//! Where a stream's source stands: [`Position`] after each batch it gives,
//! and [`Progress`], what the query has taken in of it so far, which a
//! checkpoint keeps so a restarted query reads on from there.
//!
//! Files are replayable (a file's rows come in the same order every time),
//! so their progress is the files read, in order, and the rows read of the
//! last; the Nexmark generator's is the next event number. TCP sockets and a
//! program's streams cannot be replayed: after a restart they go on with
//! whatever arrives next.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::arrow::record_batch::RecordBatch;

use super::Snapshot;
use crate::error::{Error, Result};

/// Where a source stands after one of its batches.
#[derive(Debug, Clone, PartialEq)]
pub enum Position {
    /// Rows of a file read so far.
    File {
        /// The file's path.
        file: Arc<str>,
        /// Its rows read so far.
        rows: u64,
    },
    /// The next event to generate.
    Event(u64),
    /// The source cannot be replayed.
    Unreplayable,
}

/// What a query has taken in of one source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Files begun, in the order read, with the rows read of each (all of
    /// each but the last).
    pub files: Vec<(Arc<str>, u64)>,
    /// The generator's next event.
    pub next_event: Option<u64>,
}

impl Progress {
    /// Moves on to `position`, the source's position after a batch taken in.
    pub fn advance(&mut self, position: Position) {
        match position {
            Position::File { file, rows } => match self.files.last_mut() {
                Some((last, read)) if *last == file => *read = rows,
                _ => self.files.push((file, rows)),
            },
            Position::Event(next) => self.next_event = Some(next),
            Position::Unreplayable => {}
        }
    }

    /// The files wholly read: every file begun but the last.
    pub fn files_done(&self) -> impl Iterator<Item = &str> {
        let done = self.files.len().saturating_sub(1);
        self.files[..done].iter().map(|(file, _)| file.as_ref())
    }

    /// The file being read and the rows read of it.
    pub fn current_file(&self) -> Option<(&str, u64)> {
        self.files.last().map(|(file, rows)| (file.as_ref(), *rows))
    }

    /// As a snapshot: table `files` (file, rows) and value `next_event`.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        if let Some(next) = self.next_event {
            snapshot.set("next_event", next as i64);
        }
        if !self.files.is_empty() {
            let schema = Arc::new(Schema::new(vec![
                Field::new("file", DataType::Utf8, false),
                Field::new("rows", DataType::Int64, false),
            ]));
            let files = StringArray::from_iter_values(self.files.iter().map(|(f, _)| f.as_ref()));
            let rows = Int64Array::from_iter_values(self.files.iter().map(|(_, r)| *r as i64));
            let batch = RecordBatch::try_new(schema, vec![Arc::new(files), Arc::new(rows)])?;
            snapshot.set_table("files", vec![batch]);
        }
        Ok(snapshot)
    }

    /// From a snapshot made by [`Progress::snapshot`].
    pub fn restore(mut snapshot: Snapshot) -> Result<Self> {
        let mut progress = Progress {
            files: Vec::new(),
            next_event: snapshot.take("next_event").map(|n| n as u64),
        };
        for batch in snapshot.take_table("files") {
            let bad = || Error::query("the checkpoint's file positions are not readable");
            let files = batch.column(0).as_string_opt::<i32>().ok_or_else(bad)?;
            let rows = batch
                .column(1)
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(bad)?;
            if files.null_count() > 0 || rows.null_count() > 0 {
                return Err(bad());
            }
            for (file, rows) in files.iter().flatten().zip(rows.values().iter()) {
                progress.files.push((Arc::from(file), *rows as u64));
            }
        }
        snapshot.expect_consumed("source")?;
        Ok(progress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_keeps_files_in_order_and_rows_of_the_last() {
        let mut progress = Progress::default();
        let a: Arc<str> = Arc::from("a.parquet");
        let b: Arc<str> = Arc::from("b.parquet");
        for (file, rows) in [(&a, 10), (&a, 20), (&b, 5)] {
            progress.advance(Position::File {
                file: Arc::clone(file),
                rows,
            });
        }
        progress.advance(Position::Unreplayable);
        assert_eq!(progress.files_done().collect::<Vec<_>>(), ["a.parquet"]);
        assert_eq!(progress.current_file(), Some(("b.parquet", 5)));
        let restored = Progress::restore(progress.snapshot().unwrap()).unwrap();
        assert_eq!(restored, progress);
    }
}
