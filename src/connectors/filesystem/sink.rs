//! The filesystem sink: Parquet, CSV or JSON files in a local directory,
//! each visible only once complete.
//!
//! Rows are written to a hidden in-progress file (`.part-<job>-<n>.<ext>.inprogress`)
//! and the file is renamed to `part-<job>-<n>.<ext>` when it is complete: when
//! it reaches `'sink.rolling-policy.file-size'` (default 128 MiB), when it is
//! older than `'sink.rolling-policy.rollover-interval'` (default 1 min,
//! checked as batches arrive), and when the job ends or is stopped. Readers
//! never see a partial file.
//!
//! In a checkpointed job the sink is exactly-once (Flink's two-phase
//! commit): a complete file is first renamed `.part-<job>-<n>.<ext>.pending`,
//! each checkpoint completes the open file, and the pending files become
//! visible only once the checkpoint holding their names is committed. After
//! a crash, the job's restart publishes the files its last checkpoint named
//! and deletes the job's other hidden files: their rows are written again.
//!
//! A published file is never overwritten: a new run numbers its files after
//! those of earlier runs of the same job name in the directory.
//!
//! A table with a PRIMARY KEY given an updating result is written as
//! snapshots instead (`upsert.rs`): one file, `snapshot-<job>.<ext>`,
//! replaced whole (an atomic rename over it) by each newer snapshot.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;

use crate::checkpoint::Snapshot;
use crate::connectors::options::Options;
use crate::connectors::sink::Sink;
use crate::error::{Error, Location, Result};
use crate::sql::create_table::CreateTable;

/// Options of the filesystem sink.
pub const OPTIONS: &[&str] = &[
    "path",
    "format",
    "csv.header",
    "csv.delimiter",
    "sink.rolling-policy.file-size",
    "sink.rolling-policy.rollover-interval",
    "sink.rolling-policy.check-interval",
    "source.monitor-interval",
    "sink.partition-commit.trigger",
    "sink.partition-commit.delay",
    "sink.partition-commit.policy.kind",
    "partition.time-extractor.timestamp-pattern",
    "partition.default-name",
];

enum Writer {
    Parquet(ArrowWriter<File>),
    Csv(datafusion::arrow::csv::Writer<BufWriter<File>>),
    Json(LineDelimitedWriter<BufWriter<File>>),
}

struct OpenFile {
    writer: Writer,
    in_progress: PathBuf,
    visible: PathBuf,
    opened: Instant,
    bytes: usize,
}

/// Writes rolling files into a directory.
pub struct FileSink {
    directory: PathBuf,
    format: String,
    job: String,
    next_part: u64,
    max_bytes: usize,
    max_age: Duration,
    current: Option<OpenFile>,
    /// Files are published only by checkpoints.
    exactly_once: bool,
    /// Complete files waiting for a checkpoint: the hidden name, then the
    /// visible one.
    pending: Vec<(PathBuf, PathBuf)>,
    /// Writes snapshots: one file name, replaced by each new file.
    snapshot: bool,
}

/// The filesystem sink's options, read and checked once, when the table
/// is created.
#[derive(Debug, Clone)]
pub struct FileSinkOptions {
    /// The directory, as written.
    path: String,
    /// Where the path option is written.
    path_at: Location,
    /// `parquet`, `csv` or `json`.
    format: String,
    /// Bytes after which a file is rolled.
    max_bytes: usize,
    /// Time after which a file is rolled.
    max_age: Duration,
    /// A partitioned table's partitions get a `_SUCCESS` file when
    /// committed (`'sink.partition-commit.policy.kind' = 'success-file'`).
    pub success_file: bool,
    /// The directory name of a NULL partition value.
    pub default_partition: String,
}

impl FileSinkOptions {
    /// Reads and checks the sink options of `table`.
    pub fn from_table(table: &CreateTable) -> Result<Self> {
        let options = Options::new(table, OPTIONS)?;
        let path = options.required("path")?;
        let (path_at, path) = (path.location, path.value.to_string());
        let format = options.required("format")?;
        let format_name = format.value.to_ascii_lowercase();
        if !["parquet", "csv", "json"].contains(&format_name.as_str()) {
            return Err(format.error("use 'parquet', 'csv' or 'json'".into()));
        }
        let max_bytes = match options.get("sink.rolling-policy.file-size") {
            None => 128 << 20,
            Some(o) => crate::config::parse_size(o.value)
                .map(|bytes| usize::try_from(bytes).unwrap_or(usize::MAX))
                .map_err(|problem| o.error(problem))?,
        };
        let max_age = match options.get("sink.rolling-policy.rollover-interval") {
            None => Duration::from_secs(60),
            Some(o) => {
                crate::config::parse_interval(o.value).map_err(|problem| o.error(problem))?
            }
        };
        for key in [
            "sink.rolling-policy.check-interval",
            "sink.partition-commit.delay",
        ] {
            if let Some(o) = options.get(key) {
                crate::config::parse_interval(o.value).map_err(|problem| o.error(problem))?;
            }
        }
        if let Some(o) = options.get("sink.partition-commit.trigger") {
            if !["process-time", "partition-time"].contains(&o.value) {
                return Err(o.error("use 'process-time' or 'partition-time'".into()));
            }
        }
        let mut success_file = false;
        if let Some(o) = options.get("sink.partition-commit.policy.kind") {
            for kind in o.value.split(',').map(str::trim) {
                match kind {
                    "success-file" => success_file = true,
                    other => {
                        return Err(o.error(format!(
                            "'{other}' is not supported; use 'success-file' (a metastore \
                             commit needs a Hive catalog, which flowsql does not have)"
                        )))
                    }
                }
            }
        }
        Ok(FileSinkOptions {
            path,
            path_at,
            format: format_name,
            max_bytes,
            max_age,
            success_file,
            default_partition: options
                .get("partition.default-name")
                .map_or("__DEFAULT_PARTITION__", |o| o.value)
                .to_string(),
        })
    }
}

impl FileSink {
    /// A sink for the table's directory (created if missing), naming its
    /// files after job `job`; see the module docs for `exactly_once`.
    pub fn open(options: &FileSinkOptions, job: &str, exactly_once: bool) -> Result<Self> {
        Self::open_as(options, job, exactly_once, false)
    }

    /// A sink writing whole snapshots of a table, each replacing the last
    /// (see the module docs).
    pub fn open_snapshots(
        options: &FileSinkOptions,
        job: &str,
        exactly_once: bool,
    ) -> Result<Self> {
        Self::open_as(options, job, exactly_once, true)
    }

    /// How often a job without checkpoints rolls its files (or writes a
    /// snapshot).
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// The sink's directory: the table's path.
    pub fn directory(options: &FileSinkOptions) -> Result<PathBuf> {
        let local = options
            .path
            .strip_prefix("file://")
            .unwrap_or(&options.path);
        if local.contains("://") {
            return Err(Error::query_at(
                "option 'path': the filesystem sink writes local directories only for now",
                Some(options.path_at),
            ));
        }
        Ok(PathBuf::from(local))
    }

    fn open_as(
        options: &FileSinkOptions,
        job: &str,
        exactly_once: bool,
        snapshot: bool,
    ) -> Result<Self> {
        Self::open_in(
            options,
            Self::directory(options)?,
            job,
            exactly_once,
            snapshot,
        )
    }

    /// A sink writing files into `directory` (one partition's, for a
    /// partitioned table), otherwise as the table's options say.
    pub fn open_in(
        options: &FileSinkOptions,
        directory: PathBuf,
        job: &str,
        exactly_once: bool,
        snapshot: bool,
    ) -> Result<Self> {
        std::fs::create_dir_all(&directory).map_err(|e| {
            Error::External(format!(
                "cannot create sink directory '{}': {e}",
                directory.display()
            ))
        })?;
        let mut sink = FileSink {
            directory,
            format: options.format.clone(),
            job: job.to_string(),
            next_part: 0,
            max_bytes: options.max_bytes,
            max_age: options.max_age,
            current: None,
            exactly_once,
            pending: Vec::new(),
            snapshot,
        };
        // Jobs are numbered from 1 in every process: a run goes on after
        // the files of earlier runs into the same directory, never over them.
        sink.next_part = sink
            .parts()?
            .iter()
            .map(|(_, n, _)| n + 1)
            .max()
            .unwrap_or(0);
        Ok(sink)
    }

    fn new_file(&mut self, batch: &RecordBatch) -> Result<OpenFile> {
        let name = match self.snapshot {
            true => format!("snapshot-{}.{}", self.job, self.format),
            false => format!("part-{}-{:05}.{}", self.job, self.next_part, self.format),
        };
        self.next_part += 1;
        let visible = self.directory.join(&name);
        let in_progress = hidden(&visible, "inprogress");
        // A new file, never one another writer has open.
        let file = File::create_new(&in_progress).map_err(|e| {
            Error::External(format!("cannot create '{}': {e}", in_progress.display()))
        })?;
        let writer = match self.format.as_str() {
            "parquet" => Writer::Parquet(
                ArrowWriter::try_new(file, batch.schema(), None)
                    .map_err(|e| Error::External(e.to_string()))?,
            ),
            "csv" => Writer::Csv(
                CsvWriterBuilder::new()
                    .with_header(true)
                    .build(BufWriter::new(file)),
            ),
            _ => Writer::Json(LineDelimitedWriter::new(BufWriter::new(file))),
        };
        Ok(OpenFile {
            writer,
            in_progress,
            visible,
            opened: Instant::now(),
            bytes: 0,
        })
    }

    /// Writes `batch` as one whole file (a snapshot, even of no rows),
    /// complete at once: visible, or pending its checkpoint.
    pub fn write_whole_file(&mut self, batch: &RecordBatch) -> Result<()> {
        self.roll()?;
        let mut open = self.new_file(batch)?;
        write_to(&mut open, batch)?;
        self.current = Some(open);
        self.roll()
    }

    /// Completes the open file and makes it visible.
    fn roll(&mut self) -> Result<()> {
        let Some(open) = self.current.take() else {
            return Ok(());
        };
        match open.writer {
            Writer::Parquet(writer) => {
                writer.close().map_err(|e| Error::External(e.to_string()))?;
            }
            Writer::Csv(writer) => {
                writer.into_inner().flush()?;
            }
            Writer::Json(mut writer) => {
                writer.finish()?;
                writer.into_inner().flush()?;
            }
        }
        if self.exactly_once {
            let pending = hidden(&open.visible, "pending");
            // A newer snapshot supersedes one still waiting.
            rename(&open.in_progress, &pending, self.snapshot)?;
            if self.snapshot {
                self.pending.clear();
            }
            self.pending.push((pending, open.visible));
        } else {
            rename(&open.in_progress, &open.visible, self.snapshot)?;
        }
        Ok(())
    }

    /// Publishes the pending files.
    fn publish_pending(&mut self) -> Result<()> {
        for (pending, visible) in self.pending.drain(..) {
            rename(&pending, &visible, self.snapshot)?;
        }
        Ok(())
    }

    /// This job's hidden files in the directory (in progress or pending).
    fn hidden_files(&self) -> Result<Vec<PathBuf>> {
        Ok(self
            .parts()?
            .into_iter()
            .filter(|(_, _, hidden)| *hidden)
            .map(|(path, _, _)| path)
            .collect())
    }

    /// This job's files in the directory, visible or hidden: each path, its
    /// part number and whether it is hidden.
    fn parts(&self) -> Result<Vec<(PathBuf, u64, bool)>> {
        let entries = std::fs::read_dir(&self.directory).map_err(|e| {
            Error::External(format!("cannot list '{}': {e}", self.directory.display()))
        })?;
        Ok(entries
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path())
            .filter_map(|path| {
                let name = path.file_name()?.to_str()?;
                let (visible, hidden) = match name.strip_prefix('.') {
                    Some(visible) => (visible, true),
                    None => (name, false),
                };
                let snapshot = format!("snapshot-{}.", self.job);
                let number = match visible.starts_with(&snapshot) {
                    true => 0,
                    false => part_number(visible, &self.job)?,
                };
                Some((path, number, hidden))
            })
            .collect())
    }
}

/// `n` of `part-<job>-<n>.<ext>`: not of another job whose name begins
/// with this one's.
fn part_number(file: &str, job: &str) -> Option<u64> {
    let rest = file
        .strip_prefix("part-")?
        .strip_prefix(job)?
        .strip_prefix('-')?;
    let (number, _) = rest.split_once('.')?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

/// `dir/.name.<suffix>` for `dir/name`.
fn hidden(visible: &std::path::Path, suffix: &str) -> PathBuf {
    let name = visible
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    visible.with_file_name(format!(".{name}.{suffix}"))
}

/// Publishes `from` as `to`, which must not exist (a published file is
/// never overwritten) unless it is a snapshot `replacing` the last one.
fn rename(from: &std::path::Path, to: &std::path::Path, replacing: bool) -> Result<()> {
    if to.exists() && !replacing {
        return Err(Error::External(format!(
            "cannot publish '{}': a file of that name exists already (another job writing \
             the same directory under the same name?); it is left as it is",
            to.display()
        )));
    }
    std::fs::rename(from, to)
        .map_err(|e| Error::External(format!("cannot publish '{}': {e}", to.display())))
}

/// Writes `batch` into `open`.
fn write_to(open: &mut OpenFile, batch: &RecordBatch) -> Result<()> {
    match &mut open.writer {
        Writer::Parquet(writer) => writer
            .write(batch)
            .map_err(|e| Error::External(e.to_string()))?,
        Writer::Csv(writer) => writer.write(batch)?,
        Writer::Json(writer) => writer.write(batch)?,
    }
    open.bytes += batch.get_array_memory_size();
    Ok(())
}

#[async_trait::async_trait]
impl Sink for FileSink {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let open = match self.current.take() {
            Some(open) => self.current.insert(open),
            None => {
                let open = self.new_file(batch)?;
                self.current.insert(open)
            }
        };
        write_to(open, batch)?;
        if open.bytes >= self.max_bytes || open.opened.elapsed() >= self.max_age {
            self.roll()?;
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        self.roll()?;
        self.publish_pending()
    }

    async fn pre_commit(&mut self) -> Result<Snapshot> {
        self.roll()?;
        let mut state = Snapshot::default();
        state.set("next_part", self.next_part as i64);
        let names: Vec<&str> = self
            .pending
            .iter()
            .filter_map(|(_, visible)| visible.file_name().and_then(|n| n.to_str()))
            .collect();
        if !names.is_empty() {
            let files = Arc::new(StringArray::from(names)) as ArrayRef;
            state.set_table(
                "pending",
                vec![RecordBatch::try_from_iter([("file", files)])?],
            );
        }
        Ok(state)
    }

    async fn commit(&mut self) -> Result<()> {
        self.publish_pending()
    }

    async fn recover(&mut self, mut state: Snapshot) -> Result<()> {
        if let Some(next) = state.take("next_part") {
            self.next_part = next as u64;
        }
        for batch in state.take_table("pending") {
            let Some(names) = batch.column(0).as_string_opt::<i32>() else {
                return Err(Error::query(
                    "the checkpoint's sink files are not readable; it was taken by a different query",
                ));
            };
            for name in names.iter().flatten() {
                let visible = self.directory.join(name);
                let pending = hidden(&visible, "pending");
                // Published already when the crash came after the commit.
                if pending.exists() {
                    rename(&pending, &visible, self.snapshot)?;
                }
            }
        }
        for leftover in self.hidden_files()? {
            std::fs::remove_file(&leftover).map_err(|e| {
                Error::External(format!("cannot delete '{}': {e}", leftover.display()))
            })?;
        }
        Ok(())
    }

    async fn abort(&mut self) -> Result<()> {
        if !self.exactly_once {
            return self.finish().await;
        }
        // What no checkpoint covers stays hidden; a restart deletes it and
        // writes its rows again.
        self.roll()
    }
}
