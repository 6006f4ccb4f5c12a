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

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::context::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use futures::StreamExt;

use super::{csv_records, file_order, listing as filesystem};
use crate::checkpoint::{Position, Progress};
use crate::connectors::{json_depth, ConnectorTable};
use crate::error::{Error, Result};

/// The batches of a stream table's files, in order.
pub struct FileStream {
    state: SessionState,
    table: ConnectorTable,
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
    /// The files are CSV: records are checked to be one per line.
    csv: bool,
    /// The files are JSON: each is checked for depth before it is read.
    json: bool,
    /// How often to look for new files; `None` ends at the last file.
    monitor_interval: Option<Duration>,
    /// The file being read, and the rows read of it so far.
    current: Option<(Arc<str>, u64)>,
    /// Rows still to skip at the start of the current file (resuming).
    skip: u64,
    /// Where a resumed stream goes on: a file begun and the rows of it that
    /// were read before.
    resume_at: Option<(String, u64)>,
}

impl FileStream {
    /// Lists `table`'s files; nothing is read until [`FileStream::next_batch`].
    pub async fn open(state: SessionState, table: &ConnectorTable) -> Result<Self> {
        let definition = table.definition();
        let path = definition.option("path").unwrap_or_default().to_string();
        let monitor_interval = definition
            .option("source.monitor-interval")
            .map(|text| {
                crate::config::parse_interval(text).map_err(|problem| {
                    Error::query(format!("option 'source.monitor-interval': {problem}"))
                })
            })
            .transpose()?;
        let mut stream = FileStream {
            state,
            table: table.clone(),
            path,
            files: VecDeque::new(),
            seen: HashSet::new(),
            settling: HashMap::new(),
            partitions: VecDeque::new(),
            csv: definition
                .option("format")
                .is_some_and(|f| f.eq_ignore_ascii_case("csv")),
            json: definition
                .option("format")
                .is_some_and(|f| f.eq_ignore_ascii_case("json")),
            monitor_interval,
            current: None,
            skip: 0,
            resume_at: None,
        };
        stream.list_new_files().await?;
        Ok(stream)
    }

    /// True when the stream watches its path for new files (never ends).
    pub fn is_unbounded(&self) -> bool {
        self.monitor_interval.is_some()
    }

    /// The next batch, or `None` at the end of the last file.
    pub async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
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
            self.current = Some((Arc::from(file.as_str()), 0));
            let task = self.file_task();
            if self.json {
                json_depth::check_file(&task, &file).await?;
            }
            let table = self.table.file_table(&self.state, &file).await?;
            let plan = table.scan(&self.state, None, &[], None).await?;
            let plan = file_order::in_file_order(plan)?;
            let count = plan.properties().partitioning.partition_count();
            let streams = (0..count)
                .map(|p| plan.execute(p, Arc::clone(&task)))
                .collect::<datafusion::error::Result<Vec<_>>>()?;
            self.partitions = streams.into();
        }
    }

    /// Where the stream stands after the last batch it gave.
    pub fn position(&self) -> Position {
        match &self.current {
            Some((file, rows)) => Position::File {
                file: Arc::clone(file),
                rows: *rows,
            },
            None => Position::Unreplayable,
        }
    }

    /// Goes on from `progress` (taken from this table's stream): the files
    /// read are passed over and the current one is read from the row after
    /// the last one taken in.
    pub fn resume(&mut self, progress: &Progress) {
        let done: HashSet<&str> = progress.files_done().collect();
        self.seen.extend(done.iter().map(|file| file.to_string()));
        self.files.retain(|file| !done.contains(file.as_str()));
        self.resume_at = progress
            .current_file()
            .map(|(file, rows)| (file.to_string(), rows));
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
        let format = self.table.definition().option("format").unwrap_or_default();
        let listed = filesystem::list_files(&self.state, &self.path, format).await?;
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

/// How long a watched file must stay unchanged (size and last change)
/// before it is read, or the monitor interval if that is shorter.
pub const SETTLE_TIME: Duration = Duration::from_secs(1);

/// The fewest rows a file stream reads per batch (DataFusion's default
/// batch is 8,192 rows; 65,536 measured 1.4x faster on a tumbling window).
pub const FILE_BATCH_ROWS: usize = 65_536;
