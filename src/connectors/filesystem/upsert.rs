//! The filesystem sink for an updating result into a table with a
//! `PRIMARY KEY (...) NOT ENFORCED`: the changelog is folded by key into
//! the table it stands for (`+I`/`+U` set the key's row, `-U`/`-D` remove
//! it), and the table is written whole, as one snapshot file replacing the
//! last (`snapshot-<job>.<ext>`, an atomic rename or a completed upload: a reader sees one
//! complete table, never a mix).
//!
//! ```text
//! changelog ─▶ key → row (Arrow row format) ─▶ at each checkpoint: the whole table as one file
//! ```
//!
//! In a checkpointed job a snapshot is written at each checkpoint and
//! published when the checkpoint commits; the table itself is part of the
//! checkpoint, so a restart publishes it again and goes on from it (after
//! a kill -9 the final file equals an uninterrupted run's). Without
//! checkpoints a snapshot is written every `'sink.rolling-policy.
//! rollover-interval'` and when the job ends. Each snapshot costs the whole
//! table (memory: the table, once, as row bytes).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};

use super::sink::FileSink;
use crate::changelog::{self, RowKind};
use crate::checkpoint::Snapshot;
use crate::connectors::sink::Sink;
use crate::error::{Error, Result};

/// Folds a changelog by key and writes the table as snapshots.
pub struct UpsertFileSink {
    files: FileSink,
    /// The key columns, among the data columns (the `op` column aside).
    key: Vec<usize>,
    /// The data columns' schema, known from the first batch (or the
    /// checkpoint).
    schema: Option<SchemaRef>,
    keys: Option<RowConverter>,
    rows: Option<RowConverter>,
    /// The table: key bytes -> row bytes.
    table: BTreeMap<Box<[u8]>, Box<[u8]>>,
    exactly_once: bool,
    last_snapshot: Instant,
}

impl UpsertFileSink {
    /// A sink folding by the columns `key` and writing through `files`.
    pub fn new(files: FileSink, key: Vec<usize>, exactly_once: bool) -> Self {
        UpsertFileSink {
            files,
            key,
            schema: None,
            keys: None,
            rows: None,
            table: BTreeMap::new(),
            exactly_once,
            last_snapshot: Instant::now(),
        }
    }

    /// Learns the data columns' layout (once).
    fn layout(&mut self, schema: SchemaRef) -> Result<()> {
        if self.schema.is_some() {
            return Ok(());
        }
        let field = |i: usize| {
            schema.fields().get(i).ok_or_else(|| {
                Error::query("the PRIMARY KEY names a column the query does not give")
            })
        };
        let keys = self
            .key
            .iter()
            .map(|&i| Ok(SortField::new(field(i)?.data_type().clone())))
            .collect::<Result<Vec<_>>>()?;
        let rows = schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        self.keys = Some(RowConverter::new(keys)?);
        self.rows = Some(RowConverter::new(rows)?);
        self.schema = Some(schema);
        Ok(())
    }

    /// The table as one batch, in key order.
    fn table_batch(&self) -> Result<Option<RecordBatch>> {
        let (Some(schema), Some(rows)) = (&self.schema, &self.rows) else {
            return Ok(None);
        };
        let parser = rows.parser();
        let columns = rows.convert_rows(self.table.values().map(|r| parser.parse(r)))?;
        let batch = match columns.is_empty() {
            true => RecordBatch::new_empty(Arc::clone(schema)),
            false => RecordBatch::try_new(Arc::clone(schema), columns)?,
        };
        Ok(Some(batch))
    }

    /// Writes the table as a new snapshot file.
    async fn write_snapshot(&mut self) -> Result<()> {
        self.last_snapshot = Instant::now();
        match self.table_batch()? {
            Some(batch) => self.files.write_whole_file(&batch).await,
            None => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl Sink for UpsertFileSink {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let kinds = changelog::kinds(batch)?;
        let data = changelog::data(batch)?;
        self.layout(data.schema())?;
        let (Some(keys), Some(rows)) = (&self.keys, &self.rows) else {
            return Err(Error::Internal("the upsert sink has no layout".into()));
        };
        let key_columns: Vec<_> = self
            .key
            .iter()
            .map(|&i| Arc::clone(data.column(i)))
            .collect();
        let key_rows = keys.convert_columns(&key_columns)?;
        let data_rows = rows.convert_columns(data.columns())?;
        for (i, kind) in kinds.iter().enumerate() {
            let key: Box<[u8]> = key_rows.row(i).data().into();
            match kind {
                RowKind::Insert | RowKind::UpdateAfter => {
                    self.table.insert(key, data_rows.row(i).data().into());
                }
                RowKind::UpdateBefore | RowKind::Delete => {
                    self.table.remove(&key);
                }
            }
        }
        if !self.exactly_once && self.last_snapshot.elapsed() >= self.files.max_age() {
            self.write_snapshot().await?;
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        self.write_snapshot().await?;
        self.files.finish().await
    }

    async fn pre_commit(&mut self) -> Result<Snapshot> {
        self.write_snapshot().await?;
        let mut state = self.files.pre_commit().await?;
        if let Some(batch) = self.table_batch()? {
            state.set_table("table", vec![batch]);
        }
        Ok(state)
    }

    async fn commit(&mut self) -> Result<()> {
        self.files.commit().await
    }

    async fn recover(&mut self, mut state: Snapshot) -> Result<()> {
        let tables = state.take_table("table");
        // The file sink drops what no checkpoint covers ...
        self.files.recover(state).await?;
        for batch in tables {
            self.layout(batch.schema())?;
            let (Some(keys), Some(rows)) = (&self.keys, &self.rows) else {
                return Err(Error::Internal("the upsert sink has no layout".into()));
            };
            let key_columns: Vec<_> = self
                .key
                .iter()
                .map(|&i| Arc::clone(batch.column(i)))
                .collect();
            let key_rows = keys.convert_columns(&key_columns)?;
            let data_rows = rows.convert_columns(batch.columns())?;
            for i in 0..batch.num_rows() {
                self.table.insert(
                    key_rows.row(i).data().into(),
                    data_rows.row(i).data().into(),
                );
            }
        }
        // ... and the checkpoint's table is published again, whether or not
        // its commit came before the crash.
        if self.schema.is_some() {
            self.write_snapshot().await?;
            self.files.commit().await?;
        }
        Ok(())
    }

    async fn abort(&mut self) -> Result<()> {
        if self.exactly_once {
            // A restart publishes the last checkpoint's table again.
            return self.files.abort().await;
        }
        self.finish().await
    }
}
