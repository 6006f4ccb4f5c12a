//! The filesystem sink of a table declared `PARTITIONED BY (a, b)`: each
//! row goes to its partition's directory, Flink's (and Hive's) layout
//! `a=<value>/b=<value>/`, values escaped as Flink escapes them (`:` as
//! `%3A`, a NULL as `__DEFAULT_PARTITION__`), and the partition columns
//! are left out of the files (the directory names hold them).
//!
//! ```text
//! batch ─▶ rows by partition ─▶ dt=2026-01-01/hm=10%3A00/  (a rolling file sink, sink.rs)
//!                            └▶ dt=2026-01-01/hm=10%3A01/  ...
//! ```
//!
//! Each partition directory (local or in an object store) is written by
//! its own [`FileSink`], so files
//! roll, stay hidden until complete and, in a checkpointed job, are
//! published with their checkpoint exactly as in an unpartitioned table.
//! With `'sink.partition-commit.policy.kind' = 'success-file'` each
//! partition written gets an empty `_SUCCESS` file when the job ends (the
//! commit of a partition as the watermark passes its time, Flink's
//! `partition-time` trigger, is not done yet: partitions are committed at
//! the end).

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array, StringArray, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use super::directory::{Sealed, SinkDirectory};
use super::sink::{self, FileSink, FileSinkOptions};
use crate::checkpoint::Snapshot;
use crate::connectors::sink::Sink;
use crate::error::{Error, Result};

/// Writes each partition's rows into its own directory.
pub struct PartitionedFileSink {
    options: FileSinkOptions,
    directory: SinkDirectory,
    job: String,
    exactly_once: bool,
    /// The partition columns: their names and positions among the columns.
    partition_columns: Vec<(String, usize)>,
    /// One sink per partition, by its directory (relative, `a=1/b=x`).
    partitions: BTreeMap<String, FileSink>,
}

impl PartitionedFileSink {
    /// A sink for the table whose partition columns are `partition_columns`.
    pub fn open(
        options: &FileSinkOptions,
        job: &str,
        exactly_once: bool,
        partition_columns: Vec<(String, usize)>,
    ) -> Result<Self> {
        Ok(PartitionedFileSink {
            options: options.clone(),
            directory: options.directory()?,
            job: job.to_string(),
            exactly_once,
            partition_columns,
            partitions: BTreeMap::new(),
        })
    }

    /// The sink of partition directory `partition`, opened on first use.
    async fn partition(&mut self, partition: &str) -> Result<&mut FileSink> {
        if !self.partitions.contains_key(partition) {
            let sink = FileSink::open_in(
                &self.options,
                self.directory.join(partition)?,
                &self.job,
                self.exactly_once,
                false,
            )
            .await?;
            self.partitions.insert(partition.to_string(), sink);
        }
        self.partitions
            .get_mut(partition)
            .ok_or_else(|| Error::Internal("a partition sink vanished".into()))
    }

    /// Each row's partition directory.
    fn directories(&self, batch: &RecordBatch) -> Result<Vec<String>> {
        let options = FormatOptions::default();
        let formatters = self
            .partition_columns
            .iter()
            .map(|(_, i)| {
                let column = batch.columns().get(*i).ok_or_else(|| {
                    Error::query("PARTITIONED BY names a column the query does not give")
                })?;
                Ok(ArrayFormatter::try_new(column.as_ref(), &options)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let nulls: Vec<&ArrayRef> = self
            .partition_columns
            .iter()
            .map(|(_, i)| batch.column(*i))
            .collect();
        Ok((0..batch.num_rows())
            .map(|row| {
                self.partition_columns
                    .iter()
                    .zip(&formatters)
                    .zip(&nulls)
                    .map(|(((name, _), formatter), column)| {
                        let value = match column.is_null(row) {
                            true => self.options.default_partition.clone(),
                            false => escape(&formatter.value(row).to_string()),
                        };
                        format!("{}={value}", escape(name))
                    })
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect())
    }
}

/// The partition directories under `directory`, `depth` levels down (the
/// partition columns), relative. (Not a method: an open sink is not `Sync`.)
async fn existing_partitions(directory: &SinkDirectory, depth: usize) -> Result<Vec<String>> {
    let mut found = vec![String::new()];
    for _ in 0..depth {
        let mut next = Vec::new();
        for relative in found {
            let dir = match relative.is_empty() {
                true => directory.clone(),
                false => directory.join(&relative)?,
            };
            for name in dir.subdirectory_names().await? {
                if name.contains('=') && !name.starts_with('.') {
                    next.push(match relative.is_empty() {
                        true => name,
                        false => format!("{relative}/{name}"),
                    });
                }
            }
        }
        found = next;
    }
    Ok(found)
}

/// A partition name or value as Flink writes it in a path: `%XX` for the
/// characters Hive escapes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || "\"#%'*/:=?\\\u{7f}{[]^".contains(c) {
            let mut bytes = [0; 4];
            for byte in c.encode_utf8(&mut bytes).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[async_trait::async_trait]
impl Sink for PartitionedFileSink {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let directories = self.directories(batch)?;
        let mut rows: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for (i, dir) in directories.iter().enumerate() {
            rows.entry(dir).or_default().push(i as u32);
        }
        // The partition columns are in the directory names, not the files.
        let kept: Vec<usize> = (0..batch.num_columns())
            .filter(|i| !self.partition_columns.iter().any(|(_, p)| p == i))
            .collect();
        let data = batch.project(&kept)?;
        for (dir, indices) in rows {
            let part = take_record_batch(&data, &UInt32Array::from(indices))?;
            self.partition(dir).await?.write(&part).await?;
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        for (dir, sink) in self.partitions.iter_mut() {
            sink.finish().await?;
            if self.options.success_file {
                // An empty file marks the partition complete.
                self.directory
                    .join(dir)?
                    .put_file("_SUCCESS", Vec::new())
                    .await?;
            }
        }
        Ok(())
    }

    async fn pre_commit(&mut self) -> Result<Snapshot> {
        // Per partition: its next file number and its pending files.
        let (mut dirs, mut next_parts) = (Vec::new(), Vec::new());
        let (mut pending_dirs, mut pending_files) = (Vec::new(), Vec::new());
        for (dir, sink) in self.partitions.iter_mut() {
            let mut state = sink.pre_commit().await?;
            dirs.push(dir.clone());
            next_parts.push(state.take("next_part").unwrap_or(0));
            for batch in state.take_table("pending") {
                for file in sink::read_pending(&batch)? {
                    pending_dirs.push(dir.clone());
                    pending_files.push(file);
                }
            }
        }
        let mut state = Snapshot::default();
        if !dirs.is_empty() {
            state.set_table(
                "partitions",
                vec![RecordBatch::try_from_iter([
                    ("dir", Arc::new(StringArray::from(dirs)) as ArrayRef),
                    (
                        "next_part",
                        Arc::new(Int64Array::from(next_parts)) as ArrayRef,
                    ),
                ])?],
            );
        }
        if !pending_dirs.is_empty() {
            // The files' table (sink.rs) with each one's partition before.
            let files = sink::pending_table(&pending_files)?;
            let dirs = Arc::new(StringArray::from(pending_dirs)) as ArrayRef;
            let schema = files.schema();
            let columns = std::iter::once(("dir".to_string(), dirs)).chain(
                schema
                    .fields()
                    .iter()
                    .zip(files.columns())
                    .map(|(field, column)| (field.name().clone(), Arc::clone(column))),
            );
            state.set_table("pending", vec![RecordBatch::try_from_iter(columns)?]);
        }
        Ok(state)
    }

    async fn commit(&mut self) -> Result<()> {
        for sink in self.partitions.values_mut() {
            sink.commit().await?;
        }
        Ok(())
    }

    async fn recover(&mut self, mut state: Snapshot) -> Result<()> {
        let bad = || {
            Error::query(
                "the checkpoint's partitioned sink files are not readable; it was taken by a \
                 different query",
            )
        };
        let mut per_partition: BTreeMap<String, Snapshot> = BTreeMap::new();
        for batch in state.take_table("partitions") {
            let dirs = batch.column(0).as_string_opt::<i32>().ok_or_else(bad)?;
            let next = batch
                .column(1)
                .as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>()
                .ok_or_else(bad)?;
            for (dir, next) in dirs.iter().zip(next.iter()) {
                let (Some(dir), Some(next)) = (dir, next) else {
                    return Err(bad());
                };
                per_partition
                    .entry(dir.to_string())
                    .or_default()
                    .set("next_part", next);
            }
        }
        let mut pending: BTreeMap<String, Vec<Sealed>> = BTreeMap::new();
        for batch in state.take_table("pending") {
            let dirs = batch
                .column_by_name("dir")
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(bad)?;
            for (dir, file) in dirs.iter().zip(sink::read_pending(&batch)?) {
                pending
                    .entry(dir.ok_or_else(bad)?.to_string())
                    .or_default()
                    .push(file);
            }
        }
        for (dir, files) in pending {
            per_partition
                .entry(dir)
                .or_default()
                .set_table("pending", vec![sink::pending_table(&files)?]);
        }
        // Partitions the checkpoint knows publish its files; every other
        // partition directory loses this job's hidden files.
        for dir in existing_partitions(&self.directory, self.partition_columns.len()).await? {
            per_partition.entry(dir).or_default();
        }
        for (dir, partition_state) in per_partition {
            self.partition(&dir).await?.recover(partition_state).await?;
        }
        Ok(())
    }

    async fn abort(&mut self) -> Result<()> {
        if !self.exactly_once {
            return self.finish().await;
        }
        for sink in self.partitions.values_mut() {
            sink.abort().await?;
        }
        Ok(())
    }
}
