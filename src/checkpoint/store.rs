//! `CheckpointStore`: a job's checkpoints in an object store (a local
//! directory, or `s3://...`), written so that a crash at any moment leaves
//! either a whole checkpoint or none.
//!
//! ```text
//! <root>/chk-0000000007/table-0.arrow ...   each table of the state, Arrow IPC
//! <root>/chk-0000000007/manifest.json       values, the tables' files, sizes and CRC32s
//! <root>/chk-0000000007/_COMMITTED          written last: the manifest's CRC32
//! ```
//!
//! A checkpoint exists once its `_COMMITTED` marker does. Reading one
//! checks every CRC: a corrupt or truncated checkpoint is passed over for
//! the one before, with a warning. A checkpoint of another query (its
//! fingerprint differs) is refused: state cannot move between queries.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::snapshot::{decode_table, encode_table};
use super::{QueryState, Snapshot};
use crate::error::{Error, Result};

/// The layout version of a checkpoint.
const FORMAT_VERSION: u32 = 1;

/// The marker that makes a checkpoint exist.
const COMMITTED: &str = "_COMMITTED";

/// How many complete checkpoints are kept (the newest; older ones are
/// deleted once a newer one is committed).
pub const RETAINED: usize = 2;

/// One job's checkpoints.
pub struct CheckpointStore {
    store: Arc<dyn ObjectStore>,
    root: Path,
}

/// A checkpoint read back.
#[derive(Debug)]
pub struct Restored {
    /// Its number.
    pub id: u64,
    /// The query's state.
    pub state: QueryState,
    /// Newer checkpoints that were passed over, and why.
    pub warnings: Vec<String>,
}

/// Why a checkpoint could not be read.
enum ReadError {
    /// Missing, truncated or corrupt: the one before may do.
    Damaged(Error),
    /// Of another query or format: no older one will do either.
    Incompatible(String),
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    format_version: u32,
    /// What the state belongs to (see [`CheckpointStore::write`]).
    query: String,
    /// Milliseconds since the Unix epoch when it was taken (for people
    /// reading the manifest).
    taken_at_ms: i64,
    values: BTreeMap<String, i64>,
    tables: Vec<TableFile>,
}

#[derive(Serialize, Deserialize)]
struct TableFile {
    name: String,
    file: String,
    bytes: u64,
    crc32: u32,
}

impl CheckpointStore {
    /// The checkpoints under `root` in `store`.
    pub fn new(store: Arc<dyn ObjectStore>, root: Path) -> Self {
        CheckpointStore { store, root }
    }

    /// Writes checkpoint `id` of `state`, for the query `query` (any text
    /// that differs between queries whose state differs, such as the
    /// query's text), then deletes checkpoints older than the newest
    /// [`RETAINED`]. Returns the bytes written.
    pub async fn write(&self, id: u64, query: &str, state: &QueryState) -> Result<u64> {
        let dir = self.dir(id);
        let snapshot = state.to_snapshot();
        let mut tables = Vec::with_capacity(snapshot.tables.len());
        for (i, (name, batches)) in snapshot.tables.iter().enumerate() {
            let bytes = encode_table(batches)?;
            let file = format!("table-{i}.arrow");
            tables.push(TableFile {
                name: name.clone(),
                file: file.clone(),
                bytes: bytes.len() as u64,
                crc32: crc32fast::hash(&bytes),
            });
            self.store
                .put(&dir.clone().join(file), PutPayload::from(bytes))
                .await?;
        }
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            query: query.to_string(),
            taken_at_ms: now_ms(),
            values: snapshot.values,
            tables,
        };
        let table_bytes: u64 = manifest.tables.iter().map(|t| t.bytes).sum();
        let manifest = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::Internal(format!("checkpoint manifest: {e}")))?;
        let crc = crc32fast::hash(&manifest);
        let written = manifest.len() as u64 + table_bytes;
        self.store
            .put(
                &dir.clone().join("manifest.json"),
                PutPayload::from(manifest),
            )
            .await?;
        self.store
            .put(
                &dir.clone().join(COMMITTED),
                PutPayload::from(crc.to_string().into_bytes()),
            )
            .await?;
        self.prune(id).await?;
        Ok(written)
    }

    /// The newest complete, intact checkpoint of `query` for a pipeline of
    /// `shape` (see [`crate::pipeline::Pipeline::shape`]), if any.
    pub async fn latest(&self, query: &str, shape: &[usize]) -> Result<Option<Restored>> {
        let mut warnings = Vec::new();
        for id in self.committed().await?.into_iter().rev() {
            match self.read(id, query, shape).await {
                Ok(state) => {
                    return Ok(Some(Restored {
                        id,
                        state,
                        warnings,
                    }))
                }
                Err(ReadError::Incompatible(message)) => return Err(Error::query(message)),
                Err(ReadError::Damaged(e)) => warnings.push(format!(
                    "checkpoint {id} under '{}' is damaged and was passed over: {e}",
                    self.root
                )),
            }
        }
        if warnings.is_empty() {
            Ok(None)
        } else {
            Err(Error::query(format!(
                "no intact checkpoint under '{}': {}; delete the directory to start the job afresh",
                self.root,
                warnings.join("; ")
            )))
        }
    }

    async fn read(
        &self,
        id: u64,
        query: &str,
        shape: &[usize],
    ) -> std::result::Result<QueryState, ReadError> {
        let manifest = self.manifest(id).await.map_err(ReadError::Damaged)?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(ReadError::Incompatible(format!(
                "checkpoint {id} under '{}' has format {} (this flowsql reads {FORMAT_VERSION})",
                self.root, manifest.format_version
            )));
        }
        if manifest.query != query {
            return Err(ReadError::Incompatible(format!(
                "the checkpoints under '{}' were taken by a different query, or over tables \
                 defined differently:\n  {}\n\
                 name this job differently with SET 'pipeline.name', or delete that directory \
                 to start afresh",
                self.root,
                manifest.query.replace('\n', "\n  ")
            )));
        }
        let mut snapshot = Snapshot {
            values: manifest.values,
            tables: BTreeMap::new(),
        };
        let dir = self.dir(id);
        for table in manifest.tables {
            let bytes = self
                .bytes(&dir.clone().join(table.file.as_str()))
                .await
                .map_err(ReadError::Damaged)?;
            if bytes.len() as u64 != table.bytes || crc32fast::hash(&bytes) != table.crc32 {
                return Err(ReadError::Damaged(Error::Data(format!(
                    "{} does not match its checksum",
                    table.file
                ))));
            }
            let batches = decode_table(&bytes).map_err(ReadError::Damaged)?;
            snapshot.set_table(table.name, batches);
        }
        QueryState::from_snapshot(snapshot, shape)
            .map_err(|e| ReadError::Incompatible(e.to_string()))
    }

    async fn bytes(&self, location: &Path) -> Result<Vec<u8>> {
        Ok(self.store.get(location).await?.bytes().await?.to_vec())
    }

    async fn manifest(&self, id: u64) -> Result<Manifest> {
        let dir = self.dir(id);
        let marker = self.bytes(&dir.clone().join(COMMITTED)).await?;
        let bytes = self.bytes(&dir.clone().join("manifest.json")).await?;
        let crc = std::str::from_utf8(&marker)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok());
        if crc != Some(crc32fast::hash(&bytes)) {
            return Err(Error::Data(
                "manifest.json does not match its checksum".into(),
            ));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Data(format!("manifest.json is not readable: {e}")))
    }

    /// The committed checkpoints, oldest first.
    pub async fn committed(&self) -> Result<Vec<u64>> {
        let mut ids: Vec<u64> = self
            .store
            .list(Some(&self.root))
            .try_filter_map(|meta| async move {
                let mut parts = meta.location.parts().collect::<Vec<_>>().into_iter().rev();
                let file = parts.next();
                let dir = parts.next();
                Ok(match (file, dir) {
                    (Some(file), Some(dir)) if file.as_ref() == COMMITTED => dir
                        .as_ref()
                        .strip_prefix("chk-")
                        .and_then(|n| n.parse::<u64>().ok()),
                    _ => None,
                })
            })
            .try_collect()
            .await?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// Deletes every checkpoint older than the newest [`RETAINED`] committed
    /// ones, `newest` included (and unfinished ones older than it).
    async fn prune(&self, newest: u64) -> Result<()> {
        let committed = self.committed().await?;
        let keep_from = committed
            .iter()
            .rev()
            .nth(RETAINED - 1)
            .copied()
            .unwrap_or(0)
            .min(newest);
        let old: Vec<Path> = self
            .store
            .list(Some(&self.root))
            .try_filter_map(|meta| async move {
                let dir = meta
                    .location
                    .parts()
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .nth(1);
                let id = dir.and_then(|d| {
                    d.as_ref()
                        .strip_prefix("chk-")
                        .and_then(|n| n.parse::<u64>().ok())
                });
                Ok(id.filter(|id| *id < keep_from).map(|_| meta.location))
            })
            .try_collect()
            .await?;
        // Markers first, so a half-deleted checkpoint is never read.
        let (markers, rest): (Vec<Path>, Vec<Path>) = old
            .into_iter()
            .partition(|p| p.filename() == Some(COMMITTED));
        for location in markers.iter().chain(&rest) {
            self.store.delete(location).await?;
        }
        Ok(())
    }

    fn dir(&self, id: u64) -> Path {
        self.root.clone().join(format!("chk-{id:010}"))
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{ArrayRef, Int64Array};

    use super::*;
    use datafusion::arrow::record_batch::RecordBatch;

    const QUERY: &str = "SELECT 1";

    /// A state of one chain of one operator holding a watermark and a table.
    fn state(n: i64) -> QueryState {
        let mut operator = Snapshot::default();
        operator.set("watermark", n);
        let rows = Arc::new(Int64Array::from(vec![n, n + 1])) as ArrayRef;
        operator.set_table(
            "rows",
            vec![RecordBatch::try_from_iter([("x", rows)]).unwrap()],
        );
        QueryState {
            sources: vec![Snapshot::default()],
            operators: vec![vec![operator]],
            results_before: n as u64,
            ..QueryState::default()
        }
    }

    async fn store_with_two() -> (Arc<InMemory>, CheckpointStore) {
        let memory = Arc::new(InMemory::new());
        let store = CheckpointStore::new(memory.clone(), Path::from("job"));
        store.write(1, QUERY, &state(1)).await.unwrap();
        store.write(2, QUERY, &state(2)).await.unwrap();
        (memory, store)
    }

    fn file(id: u64, name: &str) -> Path {
        Path::from(format!("job/chk-{id:010}/{name}"))
    }

    async fn latest(store: &CheckpointStore) -> Restored {
        store.latest(QUERY, &[1]).await.unwrap().unwrap()
    }

    use object_store::memory::InMemory;

    #[tokio::test]
    async fn the_newest_intact_checkpoint_is_read() {
        let (_, store) = store_with_two().await;
        let restored = latest(&store).await;
        assert_eq!((restored.id, restored.state), (2, state(2)));
        assert!(restored.warnings.is_empty());
    }

    #[tokio::test]
    async fn a_corrupt_table_falls_back_to_the_one_before_with_a_warning() {
        let (memory, store) = store_with_two().await;
        let location = file(2, "table-0.arrow");
        let mut bytes = memory
            .get(&location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        memory.put(&location, bytes.into()).await.unwrap();
        let restored = latest(&store).await;
        assert_eq!((restored.id, restored.state), (1, state(1)));
        assert!(
            restored.warnings[0].contains("checksum"),
            "{:?}",
            restored.warnings
        );
    }

    #[tokio::test]
    async fn a_truncated_manifest_falls_back_with_a_warning() {
        let (memory, store) = store_with_two().await;
        let location = file(2, "manifest.json");
        let bytes = memory.get(&location).await.unwrap().bytes().await.unwrap();
        memory
            .put(&location, bytes.slice(..bytes.len() / 2).into())
            .await
            .unwrap();
        let restored = latest(&store).await;
        assert_eq!(restored.id, 1);
        assert_eq!(restored.warnings.len(), 1);
    }

    #[tokio::test]
    async fn a_missing_table_file_falls_back_with_a_warning() {
        let (memory, store) = store_with_two().await;
        memory.delete(&file(2, "table-0.arrow")).await.unwrap();
        let restored = latest(&store).await;
        assert_eq!(restored.id, 1);
        assert_eq!(restored.warnings.len(), 1);
    }

    #[tokio::test]
    async fn a_checkpoint_without_its_marker_does_not_exist() {
        let (memory, store) = store_with_two().await;
        memory.delete(&file(2, COMMITTED)).await.unwrap();
        let restored = latest(&store).await;
        assert_eq!(restored.id, 1);
        assert!(
            restored.warnings.is_empty(),
            "an unfinished checkpoint is not damage"
        );
    }

    #[tokio::test]
    async fn no_intact_checkpoint_is_an_error_that_says_what_to_do() {
        let (memory, store) = store_with_two().await;
        for id in [1, 2] {
            memory.delete(&file(id, "table-0.arrow")).await.unwrap();
        }
        let err = store.latest(QUERY, &[1]).await.unwrap_err();
        assert!(err.to_string().contains("delete the directory"), "{err}");
    }

    #[tokio::test]
    async fn no_checkpoint_at_all_is_a_fresh_start() {
        let store = CheckpointStore::new(Arc::new(InMemory::new()), Path::from("job"));
        assert!(store.latest(QUERY, &[1]).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn old_checkpoints_are_pruned() {
        let (memory, store) = store_with_two().await;
        for id in 3..=5 {
            store.write(id, QUERY, &state(id as i64)).await.unwrap();
        }
        assert_eq!(store.committed().await.unwrap(), [4, 5]);
        let left: Vec<_> = memory
            .list(Some(&Path::from("job")))
            .try_collect::<Vec<_>>()
            .await
            .unwrap();
        assert!(left
            .iter()
            .all(|m| !m.location.as_ref().contains("chk-0000000003")));
    }
}
