//! The filesystem sink: Parquet, CSV or JSON files in a directory, local
//! or in an object store (`s3://`, `gs://`, `az://`), each visible only
//! once complete.
//!
//! Rows are written to a hidden file (`.part-<job>-<n>.<ext>.inprogress`
//! locally, a multipart upload in an object store: `directory.rs`) that
//! becomes `part-<job>-<n>.<ext>` when it is complete: when it reaches
//! `'sink.rolling-policy.file-size'` (default 128 MiB), when it is older
//! than `'sink.rolling-policy.rollover-interval'` (default 1 min, checked
//! as batches arrive), and when the job ends or is stopped. Readers never
//! see a partial file.
//!
//! In a checkpointed job the sink is exactly-once (Flink's two-phase
//! commit): a complete file is first sealed (renamed
//! `.part-<job>-<n>.<ext>.pending`, or every part of its upload sent), each
//! checkpoint completes the open file, and the sealed files become visible
//! only once the checkpoint holding their names (and upload ids) is
//! committed. After a crash, the job's restart publishes the files its
//! last checkpoint named and deletes the job's other hidden files: their
//! rows are written again.
//!
//! A published file is never overwritten: a new run numbers its files after
//! those of earlier runs of the same job name in the directory.
//!
//! A table with a PRIMARY KEY given an updating result is written as
//! snapshots instead (`upsert.rs`): one file, `snapshot-<job>.<ext>`,
//! replaced whole (an atomic rename over it, or a completed upload) by
//! each newer snapshot.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;

use super::directory::{OpenTarget, Sealed, SinkDirectory};
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
    Parquet(ArrowWriter<Output>),
    Csv(datafusion::arrow::csv::Writer<Output>),
    Json(LineDelimitedWriter<Output>),
}

/// Where a format writer's bytes go (a local file, an upload's buffer).
type Output = Box<dyn Write + Send>;

struct OpenFile {
    writer: Writer,
    target: OpenTarget,
    opened: Instant,
    bytes: usize,
}

/// Writes rolling files into a directory.
pub struct FileSink {
    directory: SinkDirectory,
    format: String,
    job: String,
    next_part: u64,
    max_bytes: usize,
    max_age: Duration,
    current: Option<OpenFile>,
    /// Files are published only by checkpoints.
    exactly_once: bool,
    /// Complete files waiting for a checkpoint.
    pending: Vec<Sealed>,
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
    /// The sink's directory: the table's path, local or in an object store.
    pub fn directory(&self) -> Result<SinkDirectory> {
        SinkDirectory::open(&self.path, self.path_at)
    }

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
    pub async fn open(options: &FileSinkOptions, job: &str, exactly_once: bool) -> Result<Self> {
        Self::open_in(options, options.directory()?, job, exactly_once, false).await
    }

    /// A sink writing whole snapshots of a table, each replacing the last
    /// (see the module docs).
    pub async fn open_snapshots(
        options: &FileSinkOptions,
        job: &str,
        exactly_once: bool,
    ) -> Result<Self> {
        Self::open_in(options, options.directory()?, job, exactly_once, true).await
    }

    /// How often a job without checkpoints rolls its files (or writes a
    /// snapshot).
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// A sink writing files into `directory` (one partition's, for a
    /// partitioned table), otherwise as the table's options say.
    pub async fn open_in(
        options: &FileSinkOptions,
        directory: SinkDirectory,
        job: &str,
        exactly_once: bool,
        snapshot: bool,
    ) -> Result<Self> {
        // Jobs are numbered from 1 in every process: a run goes on after
        // the files of earlier runs into the same directory, never over them.
        let next_part = job_files(&directory, job)
            .await?
            .iter()
            .map(|(_, n)| n + 1)
            .max()
            .unwrap_or(0);
        Ok(FileSink {
            directory,
            format: options.format.clone(),
            job: job.to_string(),
            next_part,
            max_bytes: options.max_bytes,
            max_age: options.max_age,
            current: None,
            exactly_once,
            pending: Vec::new(),
            snapshot,
        })
    }

    async fn new_file(&mut self, batch: &RecordBatch) -> Result<OpenFile> {
        let name = match self.snapshot {
            true => format!("snapshot-{}.{}", self.job, self.format),
            false => format!("part-{}-{:05}.{}", self.job, self.next_part, self.format),
        };
        self.next_part += 1;
        let (target, output) = self.directory.create_file(&name).await?;
        let writer = match self.format.as_str() {
            "parquet" => Writer::Parquet(
                ArrowWriter::try_new(output, batch.schema(), None)
                    .map_err(|e| Error::External(e.to_string()))?,
            ),
            "csv" => Writer::Csv(CsvWriterBuilder::new().with_header(true).build(output)),
            _ => Writer::Json(LineDelimitedWriter::new(output)),
        };
        Ok(OpenFile {
            writer,
            target,
            opened: Instant::now(),
            bytes: 0,
        })
    }

    /// Writes `batch` as one whole file (a snapshot, even of no rows),
    /// complete at once: visible, or pending its checkpoint.
    pub async fn write_whole_file(&mut self, batch: &RecordBatch) -> Result<()> {
        self.roll().await?;
        let mut open = self.new_file(batch).await?;
        write_to(&mut open, batch)?;
        self.current = Some(open);
        self.roll().await
    }

    /// Completes the open file and makes it visible (or pending).
    async fn roll(&mut self) -> Result<()> {
        let Some(open) = self.current.take() else {
            return Ok(());
        };
        let mut output = match open.writer {
            Writer::Parquet(writer) => writer
                .into_inner()
                .map_err(|e| Error::External(e.to_string()))?,
            Writer::Csv(writer) => writer.into_inner(),
            Writer::Json(mut writer) => {
                writer.finish()?;
                writer.into_inner()
            }
        };
        output.flush()?;
        drop(output);
        // A newer snapshot supersedes one still waiting.
        let sealed = self.directory.seal(open.target, self.snapshot).await?;
        if !self.exactly_once {
            return self.directory.publish(&sealed, self.snapshot).await;
        }
        if self.snapshot {
            for superseded in std::mem::take(&mut self.pending) {
                self.directory.discard(&superseded).await?;
            }
        }
        self.pending.push(sealed);
        Ok(())
    }

    /// Publishes the pending files.
    async fn publish_pending(&mut self) -> Result<()> {
        for sealed in std::mem::take(&mut self.pending) {
            self.directory.publish(&sealed, self.snapshot).await?;
        }
        Ok(())
    }
}

/// Job `job`'s files in `directory`, visible or hidden: each name and its
/// part number. (Not a method: a sink's open writer is not `Sync`.)
async fn job_files(directory: &SinkDirectory, job: &str) -> Result<Vec<(String, u64)>> {
    let snapshot = format!("snapshot-{job}.");
    Ok(directory
        .file_names()
        .await?
        .into_iter()
        .filter_map(|name| {
            let visible = name.strip_prefix('.').unwrap_or(&name);
            let number = match visible.starts_with(&snapshot) {
                true => 0,
                false => part_number(visible, job)?,
            };
            Some((name, number))
        })
        .collect())
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

/// The checkpoint's table of pending files: each one's name and, in an
/// object store, its upload (id, and part ids one per line).
pub fn pending_table(files: &[Sealed]) -> Result<RecordBatch> {
    let names: StringArray = files.iter().map(|f| Some(f.name.as_str())).collect();
    let uploads: StringArray = files
        .iter()
        .map(|f| f.upload.as_ref().map(|(id, _)| id.as_str()))
        .collect();
    let parts: StringArray = files
        .iter()
        .map(|f| f.upload.as_ref().map(|(_, parts)| parts.join("\n")))
        .collect();
    Ok(RecordBatch::try_from_iter([
        ("file", Arc::new(names) as ArrayRef),
        ("upload", Arc::new(uploads) as ArrayRef),
        ("parts", Arc::new(parts) as ArrayRef),
    ])?)
}

/// The files of a checkpoint's pending table ([`pending_table`]; a table
/// of older checkpoints has only the names).
pub fn read_pending(batch: &RecordBatch) -> Result<Vec<Sealed>> {
    let bad = || {
        Error::query(
            "the checkpoint's sink files are not readable; it was taken by a different query",
        )
    };
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .map(|c| c.as_string_opt::<i32>().ok_or_else(bad))
            .transpose()
    };
    let names = column("file")?.ok_or_else(bad)?;
    let (uploads, parts) = (column("upload")?, column("parts")?);
    (0..batch.num_rows())
        .map(|row| {
            if names.is_null(row) {
                return Err(bad());
            }
            let upload = match (uploads, parts) {
                (Some(uploads), Some(parts)) if !uploads.is_null(row) => Some((
                    uploads.value(row).to_string(),
                    parts
                        .value(row)
                        .split('\n')
                        .filter(|p| !p.is_empty())
                        .map(str::to_string)
                        .collect(),
                )),
                _ => None,
            };
            Ok(Sealed {
                name: names.value(row).to_string(),
                upload,
            })
        })
        .collect()
}

#[async_trait::async_trait]
impl Sink for FileSink {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.current.is_none() {
            self.current = Some(self.new_file(batch).await?);
        }
        let Some(open) = self.current.as_mut() else {
            return Err(Error::Internal("the sink's open file vanished".into()));
        };
        write_to(open, batch)?;
        self.directory.upload_parts(&mut open.target).await?;
        if open.bytes >= self.max_bytes || open.opened.elapsed() >= self.max_age {
            self.roll().await?;
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        self.roll().await?;
        self.publish_pending().await
    }

    async fn pre_commit(&mut self) -> Result<Snapshot> {
        self.roll().await?;
        let mut state = Snapshot::default();
        state.set("next_part", self.next_part as i64);
        if !self.pending.is_empty() {
            state.set_table("pending", vec![pending_table(&self.pending)?]);
        }
        Ok(state)
    }

    async fn commit(&mut self) -> Result<()> {
        self.publish_pending().await
    }

    async fn recover(&mut self, mut state: Snapshot) -> Result<()> {
        if let Some(next) = state.take("next_part") {
            self.next_part = next as u64;
        }
        for batch in state.take_table("pending") {
            for sealed in read_pending(&batch)? {
                self.directory.republish(&sealed).await?;
            }
        }
        // What no checkpoint covers: deleted, its rows are written again.
        let names: Vec<String> = job_files(&self.directory, &self.job)
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        self.directory.remove_hidden(&names)
    }

    async fn abort(&mut self) -> Result<()> {
        if !self.exactly_once {
            return self.finish().await;
        }
        // What no checkpoint covers stays hidden; a restart deletes it and
        // writes its rows again.
        self.roll().await
    }
}
