//! `CheckpointStore`: a job's checkpoints in an object store (a local
//! directory, or `s3://...`), written so that a crash at any moment leaves
//! either a whole checkpoint or none.
//!
//! ```text
//! <root>/chk-0000000007/part-0.arrow ...   one file per operator or source that holds tables:
//!                                          its tables, Arrow IPC streams one after another
//! <root>/chk-0000000007/manifest.json      each part's id, values, file, size, CRC32 and tables
//! <root>/chk-0000000007/_COMMITTED         written last: the manifest's CRC32
//! ```
//!
//! Parts are named by the stable ids the planner gives sources and
//! operators (`bids/window`), so a checkpoint holds one file per operator
//! however many windows or keys its state spans.
//!
//! A checkpoint exists once its `_COMMITTED` marker does. Reading one
//! checks every CRC: a corrupt or truncated checkpoint is passed over for
//! the one before, with a warning. A checkpoint of another query (its
//! fingerprint differs) is refused: state cannot move between queries.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::snapshot::{decode_table, encode_table};
use super::state::PartKind;
use super::{QueryState, Snapshot};
use crate::error::{Error, Result};

/// The layout version of a checkpoint (1: one file per table, parts named
/// by position; 2: one file per part, named by id).
const FORMAT_VERSION: u32 = 2;

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
    /// Result batches the query sent before the checkpoint.
    results_before: u64,
    /// The parts that hold something.
    parts: Vec<PartEntry>,
}

/// Just enough of a manifest to tell its format.
#[derive(Deserialize)]
struct ManifestFormat {
    format_version: u32,
}

/// One source's, operator's, the counters' or the sink's part.
#[derive(Serialize, Deserialize)]
struct PartEntry {
    /// `source`, `operator`, `metrics` or `sink`.
    kind: String,
    /// The planner's id for it.
    id: String,
    values: BTreeMap<String, i64>,
    /// Its tables' file, when it holds tables.
    file: Option<PartFile>,
}

#[derive(Serialize, Deserialize)]
struct PartFile {
    name: String,
    bytes: u64,
    crc32: u32,
    /// Its tables, in file order.
    tables: Vec<TableAt>,
}

/// Where one table's Arrow IPC stream is in its part's file.
#[derive(Serialize, Deserialize)]
struct TableAt {
    name: String,
    offset: u64,
    bytes: u64,
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
        let mut parts = Vec::new();
        let mut written = 0;
        for (i, (kind, part_id, snapshot)) in state.parts().into_iter().enumerate() {
            let file = if snapshot.tables.is_empty() {
                None
            } else {
                // The tables back to back, written as they were encoded
                // (no copy into one buffer).
                let mut chunks: Vec<Bytes> = Vec::with_capacity(snapshot.tables.len());
                let mut tables = Vec::with_capacity(snapshot.tables.len());
                let mut crc = crc32fast::Hasher::new();
                let mut offset = 0u64;
                for (name, batches) in &snapshot.tables {
                    let table = encode_table(batches)?;
                    crc.update(&table);
                    tables.push(TableAt {
                        name: name.clone(),
                        offset,
                        bytes: table.len() as u64,
                    });
                    offset += table.len() as u64;
                    chunks.push(Bytes::from(table));
                }
                let name = format!("part-{i}.arrow");
                let file = PartFile {
                    name: name.clone(),
                    bytes: offset,
                    crc32: crc.finalize(),
                    tables,
                };
                written += file.bytes;
                self.store
                    .put(&dir.clone().join(name), chunks.into_iter().collect())
                    .await?;
                Some(file)
            };
            parts.push(PartEntry {
                kind: kind.name().to_string(),
                id: part_id.to_string(),
                values: snapshot.values.clone(),
                file,
            });
        }
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            query: query.to_string(),
            taken_at_ms: now_ms(),
            results_before: state.results_before,
            parts,
        };
        let manifest = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::Internal(format!("checkpoint manifest: {e}")))?;
        let crc = crc32fast::hash(&manifest);
        written += manifest.len() as u64;
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

    /// The newest complete, intact checkpoint of `query`, if any.
    pub async fn latest(&self, query: &str) -> Result<Option<Restored>> {
        let mut warnings = Vec::new();
        for id in self.committed().await?.into_iter().rev() {
            match self.read(id, query).await {
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

    async fn read(&self, id: u64, query: &str) -> std::result::Result<QueryState, ReadError> {
        let manifest = self.manifest(id).await?;
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
        let mut state = QueryState {
            results_before: manifest.results_before,
            ..QueryState::default()
        };
        let dir = self.dir(id);
        for part in manifest.parts {
            let kind = PartKind::parse(&part.kind).ok_or_else(|| {
                ReadError::Damaged(Error::Data(format!(
                    "a part of unknown kind '{}'",
                    part.kind
                )))
            })?;
            let mut snapshot = Snapshot {
                values: part.values,
                tables: BTreeMap::new(),
            };
            if let Some(file) = part.file {
                let bytes = self
                    .bytes(&dir.clone().join(file.name.as_str()))
                    .await
                    .map_err(ReadError::Damaged)?;
                if bytes.len() as u64 != file.bytes || crc32fast::hash(&bytes) != file.crc32 {
                    return Err(ReadError::Damaged(Error::Data(format!(
                        "{} does not match its checksum",
                        file.name
                    ))));
                }
                for table in file.tables {
                    let end = table.offset.checked_add(table.bytes);
                    let Some(slice) = end.and_then(|end| {
                        bytes.get(usize::try_from(table.offset).ok()?..usize::try_from(end).ok()?)
                    }) else {
                        return Err(ReadError::Damaged(Error::Data(format!(
                            "table '{}' lies outside {}",
                            table.name, file.name
                        ))));
                    };
                    let batches = decode_table(slice).map_err(ReadError::Damaged)?;
                    snapshot.set_table(table.name, batches);
                }
            }
            state.set_part(kind, part.id, snapshot);
        }
        Ok(state)
    }

    async fn bytes(&self, location: &Path) -> Result<Vec<u8>> {
        Ok(self.store.get(location).await?.bytes().await?.to_vec())
    }

    async fn manifest(&self, id: u64) -> std::result::Result<Manifest, ReadError> {
        let dir = self.dir(id);
        let damaged = ReadError::Damaged;
        let marker = self
            .bytes(&dir.clone().join(COMMITTED))
            .await
            .map_err(damaged)?;
        let bytes = self
            .bytes(&dir.clone().join("manifest.json"))
            .await
            .map_err(damaged)?;
        let crc = std::str::from_utf8(&marker)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok());
        if crc != Some(crc32fast::hash(&bytes)) {
            return Err(damaged(Error::Data(
                "manifest.json does not match its checksum".into(),
            )));
        }
        self.check_format(id, &bytes)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| damaged(Error::Data(format!("manifest.json is not readable: {e}"))))
    }

    /// Refuses a checkpoint of another layout, saying what to do.
    fn check_format(&self, id: u64, bytes: &[u8]) -> std::result::Result<(), ReadError> {
        let format = serde_json::from_slice::<ManifestFormat>(bytes).map_err(|e| {
            ReadError::Damaged(Error::Data(format!("manifest.json is not readable: {e}")))
        })?;
        if format.format_version == FORMAT_VERSION {
            return Ok(());
        }
        Err(ReadError::Incompatible(format!(
            "checkpoint {id} under '{}' has layout {} and this flowsql reads layout \
             {FORMAT_VERSION} (checkpoints of flowsql before one file per operator cannot be \
             resumed); delete that directory, or name the job differently with \
             SET 'pipeline.name', to start afresh",
            self.root, format.format_version
        )))
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

    fn rows(values: Vec<i64>) -> Vec<RecordBatch> {
        let rows = Arc::new(Int64Array::from(values)) as ArrayRef;
        vec![RecordBatch::try_from_iter([("x", rows)]).unwrap()]
    }

    /// A state of one operator holding a watermark and a table.
    fn state(n: i64) -> QueryState {
        let mut operator = Snapshot::default();
        operator.set("watermark", n);
        operator.set_table("rows", rows(vec![n, n + 1]));
        QueryState {
            operators: [("s/window".to_string(), operator)].into(),
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
        store.latest(QUERY).await.unwrap().unwrap()
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
        let location = file(2, "part-0.arrow");
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
        memory.delete(&file(2, "part-0.arrow")).await.unwrap();
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
            memory.delete(&file(id, "part-0.arrow")).await.unwrap();
        }
        let err = store.latest(QUERY).await.unwrap_err();
        assert!(err.to_string().contains("delete the directory"), "{err}");
    }

    #[tokio::test]
    async fn no_checkpoint_at_all_is_a_fresh_start() {
        let store = CheckpointStore::new(Arc::new(InMemory::new()), Path::from("job"));
        assert!(store.latest(QUERY).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn each_part_is_one_file_however_many_tables_it_holds() {
        let memory = Arc::new(InMemory::new());
        let store = CheckpointStore::new(memory.clone(), Path::from("job"));
        let mut state = state(1);
        let mut windows = Snapshot::default();
        for end in 0..100 {
            windows.set_table(format!("window/{end}"), rows(vec![end; 3]));
        }
        state.operators.insert("s/hop".into(), windows);
        let mut source = Snapshot::default();
        source.set("next_event", 7);
        state.sources.insert("s/source".into(), source);
        store.write(1, QUERY, &state).await.unwrap();
        let files: Vec<String> = memory
            .list(Some(&Path::from("job")))
            .map_ok(|m| m.location.filename().unwrap_or_default().to_string())
            .try_collect()
            .await
            .unwrap();
        let arrow = files.iter().filter(|f| f.ends_with(".arrow")).count();
        assert_eq!(arrow, 2, "one file per operator with tables: {files:?}");
        assert_eq!(latest(&store).await.state, state);
    }

    #[tokio::test]
    async fn a_checkpoint_of_the_old_layout_is_refused_saying_what_to_do() {
        let (memory, store) = store_with_two().await;
        let manifest = br#"{"format_version": 1, "query": "SELECT 1", "taken_at_ms": 0,
            "values": {}, "tables": []}"#
            .to_vec();
        let crc = crc32fast::hash(&manifest);
        memory
            .put(&file(3, "manifest.json"), manifest.into())
            .await
            .unwrap();
        memory
            .put(&file(3, COMMITTED), crc.to_string().into_bytes().into())
            .await
            .unwrap();
        let err = store.latest(QUERY).await.unwrap_err().to_string();
        assert!(
            err.contains("layout 1") && err.contains("delete that directory"),
            "{err}"
        );
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
