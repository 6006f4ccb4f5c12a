//! Reads a filesystem stream table: its files in path order, each batch by
//! batch, as one ordered stream (replayable: the same files give the same
//! stream). With `'source.monitor-interval'` the stream never ends: when the
//! files run out it lists the path again every interval and reads the files
//! that appeared, in path order, once they are complete (unchanged over
//! [`SETTLE_TIME`], or the interval if shorter; writing under a hidden name
//! and renaming into place, as Flink's file source expects, also works).
//!
//! Files are read in batches of at least [`FILE_BATCH_ROWS`] rows: a batch
//! is one step of the watermark and one run of the window operators' plans,
//! so larger batches spread that fixed cost over more rows (a file is
//! replayed, not waited for, so they add no delay).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Array, AsArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::execution::context::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use futures::StreamExt;

use super::{csv_records, file_order, listing as filesystem};
use crate::checkpoint::Snapshot;
use crate::connectors::declared::{declared_schema, with_computed_columns};
use crate::connectors::json_depth;
use crate::connectors::source::{Source, SourcePosition};
use crate::error::{Error, Result};
use crate::sql::create_table::CreateTable;

/// What a filesystem stream reads, from its table's options.
#[derive(Debug, Clone)]
pub struct FileStreamOptions {
    /// The file, directory or glob.
    pub path: String,
    /// `parquet`, `csv` or `json`, as written.
    pub format: String,
    /// How often to look for new files; `None` ends at the last file.
    pub monitor_interval: Option<Duration>,
}

/// The batches of a stream table's files, in order.
pub struct FileStream {
    state: SessionState,
    definition: CreateTable,
    path: String,
    /// Files listed but not read yet, in path order.
    files: VecDeque<String>,
    /// Every file taken to be read so far.
    seen: HashSet<String>,
    /// Watching: files listed once, with their size and last change, taken
    /// when the next listing finds them unchanged (complete).
    settling: HashMap<String, (u64, i64)>,
    /// Partitions of the current file still to read, in order.
    partitions: VecDeque<SendableRecordBatchStream>,
    /// The files' format, as written.
    format: String,
    /// The files are CSV: records are checked to be one per line.
    csv: bool,
    /// The files are JSON: each is checked for depth before it is read.
    json: bool,
    /// How often to look for new files; `None` ends at the last file.
    monitor_interval: Option<Duration>,
    /// The files read before the current one, in order, with their rows.
    done: Arc<Vec<(Arc<str>, u64)>>,
    /// The file being read, and the rows read of it so far.
    current: Option<(Arc<str>, u64)>,
    /// Rows still to skip at the start of the current file (resuming).
    skip: u64,
    /// Where a resumed stream goes on: a file begun and the rows of it that
    /// were read before.
    resume_at: Option<(String, u64)>,
}

impl FileStream {
    /// Lists `table`'s files; nothing is read until [`Source::next_batch`].
    pub async fn open(
        state: SessionState,
        definition: &CreateTable,
        options: &FileStreamOptions,
    ) -> Result<Self> {
        let format = &options.format;
        let mut stream = FileStream {
            state,
            definition: definition.clone(),
            path: options.path.clone(),
            files: VecDeque::new(),
            seen: HashSet::new(),
            settling: HashMap::new(),
            partitions: VecDeque::new(),
            format: format.clone(),
            csv: format.eq_ignore_ascii_case("csv"),
            json: format.eq_ignore_ascii_case("json"),
            monitor_interval: options.monitor_interval,
            done: Arc::default(),
            current: None,
            skip: 0,
            resume_at: None,
        };
        stream.list_new_files().await?;
        Ok(stream)
    }

    /// The session's task context, with batches of at least
    /// [`FILE_BATCH_ROWS`] rows.
    fn file_task(&self) -> Arc<TaskContext> {
        let config = self.state.config().clone();
        let rows = config.batch_size().max(FILE_BATCH_ROWS);
        Arc::new(TaskContext::from(&self.state).with_session_config(config.with_batch_size(rows)))
    }

    /// Takes the files that appeared since the last listing, in path order.
    /// A watched directory's file is taken once two listings (one
    /// [`SETTLE_TIME`] apart, or one interval if that is shorter) find it
    /// with the same size and last change: a file still being written is
    /// not read half. A file is read once: what is
    /// appended to it after that is not read.
    async fn list_new_files(&mut self) -> Result<()> {
        let listed = filesystem::list_files(&self.state, &self.path, &self.format).await?;
        let mut settling = HashMap::new();
        for file in listed {
            if self.seen.contains(&file.url) {
                continue;
            }
            let complete = match (self.monitor_interval, file.version) {
                (Some(_), Some(version)) => {
                    let unchanged = self.settling.get(&file.url) == Some(&version);
                    if !unchanged {
                        settling.insert(file.url.clone(), version);
                    }
                    unchanged
                }
                _ => true,
            };
            if complete {
                self.seen.insert(file.url.clone());
                self.files.push_back(file.url);
            }
        }
        self.settling = settling;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Source for FileStream {
    /// The next batch, or `None` at the end of the last file.
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if let Some(stream) = self.partitions.front_mut() {
                match stream.next().await {
                    Some(batch) => {
                        let batch = batch?;
                        if self.csv {
                            if let Some((file, _)) = &self.current {
                                csv_records::check_batch(&batch, file)?;
                            }
                        }
                        let rows = batch.num_rows() as u64;
                        if let Some((_, read)) = &mut self.current {
                            *read += rows;
                        }
                        if self.skip >= rows {
                            self.skip -= rows;
                            continue;
                        }
                        let skipped = std::mem::take(&mut self.skip) as usize;
                        return Ok(Some(batch.slice(skipped, batch.num_rows() - skipped)));
                    }
                    None => {
                        self.partitions.pop_front();
                        continue;
                    }
                }
            }
            let Some(file) = self.files.pop_front() else {
                let Some(interval) = self.monitor_interval else {
                    return Ok(None);
                };
                // Files seen once are looked at again soon: a file is taken
                // once unchanged between two listings, and a long interval
                // must not hold back a file that is already complete.
                let wait = if self.settling.is_empty() {
                    interval
                } else {
                    interval.min(SETTLE_TIME)
                };
                tokio::time::sleep(wait).await;
                self.list_new_files().await?;
                continue;
            };
            self.skip = match self.resume_at.take() {
                Some((resumed, rows)) if resumed == file => rows,
                other => {
                    self.resume_at = other;
                    0
                }
            };
            if let Some(before) = self.current.take() {
                if *before.0 != *file {
                    Arc::make_mut(&mut self.done).push(before);
                }
            }
            self.current = Some((Arc::from(file.as_str()), 0));
            let task = self.file_task();
            if self.json {
                json_depth::check_file(&task, &file).await?;
            }
            let table = file_table(&self.state, &self.definition, &file).await?;
            let plan = table.scan(&self.state, None, &[], None).await?;
            let plan = file_order::in_file_order(plan)?;
            let count = plan.properties().partitioning.partition_count();
            let streams = (0..count)
                .map(|p| plan.execute(p, Arc::clone(&task)))
                .collect::<datafusion::error::Result<Vec<_>>>()?;
            self.partitions = streams.into();
        }
    }

    fn position(&self) -> Option<Box<dyn SourcePosition>> {
        Some(Box::new(FilesRead {
            done: Arc::clone(&self.done),
            current: self.current.clone(),
        }))
    }

    /// Goes on from a position of this table's stream: the files read are
    /// passed over and the current one is read from the row after the last
    /// one taken in.
    fn resume(&mut self, position: Snapshot) -> Result<()> {
        let read = FilesRead::restore(position)?;
        let done: HashSet<&str> = read.done.iter().map(|(file, _)| file.as_ref()).collect();
        self.seen.extend(done.iter().map(|file| file.to_string()));
        self.files.retain(|file| !done.contains(file.as_str()));
        self.resume_at = read
            .current
            .as_ref()
            .map(|(file, rows)| (file.to_string(), *rows));
        self.done = read.done;
        self.current = read.current;
        Ok(())
    }
}

/// The table of one of the stream's files, with the declared and computed
/// columns.
async fn file_table(
    state: &SessionState,
    definition: &CreateTable,
    file: &str,
) -> Result<Arc<dyn TableProvider>> {
    let declared = declared_schema(state, definition)?;
    let source = filesystem::create_table_at(state, definition, declared, file).await?;
    with_computed_columns(state, definition, source)
}

/// How long a watched file must stay unchanged (size and last change)
/// before it is read, or the monitor interval if that is shorter.
pub const SETTLE_TIME: Duration = Duration::from_secs(1);

/// The fewest rows a file stream reads per batch (DataFusion's default
/// batch is 8,192 rows; 65,536 measured 1.4x faster on a tumbling window).
pub const FILE_BATCH_ROWS: usize = 65_536;

/// Where a file stream stands: the files read, in order, with the rows of
/// each, and the rows read so far of the one being read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilesRead {
    /// The files read before the current one.
    pub done: Arc<Vec<(Arc<str>, u64)>>,
    /// The file being read and its rows read so far.
    pub current: Option<(Arc<str>, u64)>,
}

impl FilesRead {
    /// From a snapshot made by [`SourcePosition::snapshot`] (empty: nothing
    /// read yet).
    pub fn restore(mut snapshot: Snapshot) -> Result<Self> {
        let mut files = Vec::new();
        for batch in snapshot.take_table("files") {
            let bad = || Error::query("the checkpoint's file positions are not readable");
            let names = batch.column(0).as_string_opt::<i32>().ok_or_else(bad)?;
            let rows = batch
                .column(1)
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(bad)?;
            if names.null_count() > 0 || rows.null_count() > 0 {
                return Err(bad());
            }
            for (file, rows) in names.iter().flatten().zip(rows.values().iter()) {
                files.push((Arc::from(file), *rows as u64));
            }
        }
        snapshot.expect_consumed("source")?;
        let current = files.pop();
        Ok(FilesRead {
            done: Arc::new(files),
            current,
        })
    }
}

impl SourcePosition for FilesRead {
    /// Table `files` (file, rows): the files read, then the current one.
    fn snapshot(&self) -> Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        let files: Vec<&(Arc<str>, u64)> = self.done.iter().chain(&self.current).collect();
        if !files.is_empty() {
            let schema = Arc::new(Schema::new(vec![
                Field::new("file", DataType::Utf8, false),
                Field::new("rows", DataType::Int64, false),
            ]));
            let names = StringArray::from_iter_values(files.iter().map(|(f, _)| f.as_ref()));
            let rows = Int64Array::from_iter_values(files.iter().map(|(_, r)| *r as i64));
            let batch = RecordBatch::try_new(schema, vec![Arc::new(names), Arc::new(rows)])?;
            snapshot.set_table("files", vec![batch]);
        }
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_read_round_trip_through_a_snapshot() {
        let read = FilesRead {
            done: Arc::new(vec![(Arc::from("a.parquet"), 20)]),
            current: Some((Arc::from("b.parquet"), 5)),
        };
        let restored = FilesRead::restore(read.snapshot().unwrap()).unwrap();
        assert_eq!(restored, read);
        let empty = FilesRead::restore(FilesRead::default().snapshot().unwrap()).unwrap();
        assert_eq!(empty, FilesRead::default());
    }
}
