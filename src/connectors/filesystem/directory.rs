//! Where the filesystem sink's files go: a local directory or a prefix in
//! an object store (`s3://`, `gs://`, `az://`), and the three steps every
//! file goes through there, so that a reader never sees a partial file and
//! a checkpointed job's files appear only with their checkpoint:
//!
//! ```text
//!            create                 seal                      publish
//! local:     .name.inprogress  ─▶   .name.pending (renamed) ─▶ name (renamed)
//! object:    multipart upload  ─▶   every part uploaded     ─▶ upload completed: name appears
//! ```
//!
//! A sealed file is what a checkpoint names ([`Sealed`]: its name and, in
//! an object store, the upload's id and parts), so a restart can publish
//! it. In an object store an upload that no checkpoint named (the file
//! open when a job was killed) is never completed: it is invisible, and
//! the bucket's lifecycle rule for incomplete multipart uploads removes it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use url::Url;

use crate::error::{Error, Location, Result};

/// Bytes an object-store file collects before they are uploaded as one
/// part (stores want parts of at least 5 MiB, the last one aside).
const PART_BYTES: usize = 8 << 20;

/// A sink's directory.
#[derive(Clone)]
pub enum SinkDirectory {
    Local(PathBuf),
    Object(ObjectPrefix),
}

/// A directory in an object store: the store and the path under it.
#[derive(Clone)]
pub struct ObjectPrefix {
    /// `s3://bucket/path`, for messages.
    url: String,
    store: Arc<dyn ObjectStore>,
    uploads: Arc<dyn MultipartStore>,
    prefix: ObjectPath,
}

/// A file being written.
pub struct OpenTarget {
    /// Its visible name, in the directory.
    pub name: String,
    place: OpenPlace,
}

enum OpenPlace {
    Local {
        in_progress: PathBuf,
    },
    Object {
        upload: String,
        parts: Vec<PartId>,
        buffer: SharedBuffer,
    },
}

/// A complete file, not visible yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Sealed {
    /// Its visible name, in the directory.
    pub name: String,
    /// In an object store: the upload's id and its parts' ids, in order.
    pub upload: Option<(String, Vec<String>)>,
}

/// Bytes written by a format writer into memory, taken from it as parts.
#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    fn len(&self) -> usize {
        self.0.lock().map_or(0, |bytes| bytes.len())
    }

    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .map(|mut bytes| std::mem::take(&mut *bytes))
            .unwrap_or_default()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut bytes) => {
                bytes.extend_from_slice(data);
                Ok(data.len())
            }
            Err(_) => Err(std::io::Error::other("a file's buffer was poisoned")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SinkDirectory {
    /// The directory `path` names (option 'path', written at `at`): a local
    /// directory (created if missing) or an object-store URL, whose store
    /// is configured from the environment as for reading.
    pub fn open(path: &str, at: Location) -> Result<Self> {
        let local = path.strip_prefix("file://").unwrap_or(path);
        if !local.contains("://") {
            let directory = SinkDirectory::Local(PathBuf::from(local));
            directory.create()?;
            return Ok(directory);
        }
        let url = Url::parse(path).map_err(|e| {
            Error::query_at(
                format!("option 'path': '{path}' is not a URL: {e}"),
                Some(at),
            )
        })?;
        let (store, uploads) = crate::connectors::object_stores::writable_store(&url)
            .map_err(|e| Error::query_at(format!("option 'path': {e}"), Some(at)))?;
        Ok(SinkDirectory::Object(ObjectPrefix {
            url: path.trim_end_matches('/').to_string(),
            store,
            uploads,
            prefix: ObjectPath::from(url.path()),
        }))
    }

    /// The subdirectory `relative` (`a=1/b=x`), created if local.
    pub fn join(&self, relative: &str) -> Result<Self> {
        let joined = match self {
            SinkDirectory::Local(dir) => SinkDirectory::Local(dir.join(relative)),
            SinkDirectory::Object(object) => {
                let mut prefix = object.prefix.clone();
                for part in relative.split('/').filter(|p| !p.is_empty()) {
                    prefix = prefix.join(part);
                }
                SinkDirectory::Object(ObjectPrefix {
                    url: format!("{}/{relative}", object.url),
                    prefix,
                    ..object.clone()
                })
            }
        };
        joined.create()?;
        Ok(joined)
    }

    fn create(&self) -> Result<()> {
        if let SinkDirectory::Local(dir) = self {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::External(format!(
                    "cannot create sink directory '{}': {e}",
                    dir.display()
                ))
            })?;
        }
        Ok(())
    }

    /// `name` in this directory, as a user would write it.
    pub fn display(&self, name: &str) -> String {
        match self {
            SinkDirectory::Local(dir) => dir.join(name).display().to_string(),
            SinkDirectory::Object(object) => format!("{}/{name}", object.url),
        }
    }

    /// The names of the files directly in the directory, hidden ones too.
    pub async fn file_names(&self) -> Result<Vec<String>> {
        match self {
            SinkDirectory::Local(dir) => local_names(dir, false)
                .map_err(|e| Error::External(format!("cannot list '{}': {e}", dir.display()))),
            SinkDirectory::Object(object) => Ok(object
                .list()
                .await?
                .objects
                .into_iter()
                .filter_map(|meta| meta.location.filename().map(str::to_string))
                .collect()),
        }
    }

    /// The names of the directories directly in this one.
    pub async fn subdirectory_names(&self) -> Result<Vec<String>> {
        match self {
            SinkDirectory::Local(dir) => Ok(local_names(dir, true).unwrap_or_default()),
            SinkDirectory::Object(object) => Ok(object
                .list()
                .await?
                .common_prefixes
                .into_iter()
                .filter_map(|prefix| prefix.filename().map(str::to_string))
                .collect()),
        }
    }

    /// Starts file `name`; its bytes go to the writer returned.
    pub async fn create_file(&self, name: &str) -> Result<(OpenTarget, Box<dyn Write + Send>)> {
        match self {
            SinkDirectory::Local(dir) => {
                let in_progress = dir.join(hidden(name, "inprogress"));
                // A new file, never one another writer has open.
                let file = File::create_new(&in_progress).map_err(|e| {
                    Error::External(format!("cannot create '{}': {e}", in_progress.display()))
                })?;
                let target = OpenTarget {
                    name: name.to_string(),
                    place: OpenPlace::Local { in_progress },
                };
                Ok((target, Box::new(BufWriter::new(file))))
            }
            SinkDirectory::Object(object) => {
                let upload = object
                    .uploads
                    .create_multipart(&object.path(name))
                    .await
                    .map_err(|e| object.error("cannot start writing", name, e))?;
                let buffer = SharedBuffer::default();
                let target = OpenTarget {
                    name: name.to_string(),
                    place: OpenPlace::Object {
                        upload,
                        parts: Vec::new(),
                        buffer: buffer.clone(),
                    },
                };
                Ok((target, Box::new(buffer)))
            }
        }
    }

    /// Uploads what an object-store file has collected once it makes a
    /// part; nothing for a local file.
    pub async fn upload_parts(&self, target: &mut OpenTarget) -> Result<()> {
        if let OpenPlace::Object { buffer, .. } = &target.place {
            if buffer.len() >= PART_BYTES {
                self.upload_part(target).await?;
            }
        }
        Ok(())
    }

    async fn upload_part(&self, target: &mut OpenTarget) -> Result<()> {
        let (
            SinkDirectory::Object(object),
            OpenPlace::Object {
                upload,
                parts,
                buffer,
            },
        ) = (self, &mut target.place)
        else {
            return Ok(());
        };
        let bytes = buffer.take();
        let part = object
            .uploads
            .put_part(
                &object.path(&target.name),
                upload,
                parts.len(),
                PutPayload::from(bytes),
            )
            .await
            .map_err(|e| object.error("cannot write", &target.name, e))?;
        parts.push(part);
        Ok(())
    }

    /// Seals a file whose writer has written its last byte (and been
    /// dropped): complete, still hidden.
    pub async fn seal(&self, mut target: OpenTarget, replacing: bool) -> Result<Sealed> {
        match &target.place {
            OpenPlace::Local { in_progress } => {
                let SinkDirectory::Local(dir) = self else {
                    return Err(Error::Internal("a local file in an object store".into()));
                };
                rename(
                    in_progress,
                    &dir.join(hidden(&target.name, "pending")),
                    replacing,
                )?;
                Ok(Sealed {
                    name: target.name,
                    upload: None,
                })
            }
            OpenPlace::Object { parts, buffer, .. } => {
                // The last part (a file has at least one, even if empty).
                if buffer.len() > 0 || parts.is_empty() {
                    self.upload_part(&mut target).await?;
                }
                let OpenPlace::Object { upload, parts, .. } = target.place else {
                    return Err(Error::Internal("an object file changed its place".into()));
                };
                Ok(Sealed {
                    name: target.name,
                    upload: Some((upload, parts.into_iter().map(|p| p.content_id).collect())),
                })
            }
        }
    }

    /// Makes a sealed file visible. A visible file is never overwritten
    /// unless `replacing` (a snapshot replacing the last).
    pub async fn publish(&self, sealed: &Sealed, replacing: bool) -> Result<()> {
        match self {
            SinkDirectory::Local(dir) => rename(
                &dir.join(hidden(&sealed.name, "pending")),
                &dir.join(&sealed.name),
                replacing,
            ),
            SinkDirectory::Object(object) => {
                if !replacing && object.store.head(&object.path(&sealed.name)).await.is_ok() {
                    return Err(already_there(&self.display(&sealed.name)));
                }
                object.complete(sealed).await
            }
        }
    }

    /// Publishes, after a restart, a file its checkpoint named: one
    /// published already (the crash came after the checkpoint's commit)
    /// is left as it is.
    pub async fn republish(&self, sealed: &Sealed) -> Result<()> {
        match self {
            SinkDirectory::Local(dir) => {
                let pending = dir.join(hidden(&sealed.name, "pending"));
                let visible = dir.join(&sealed.name);
                // No pending file: published before the crash (and maybe
                // removed since, by whoever reads the directory).
                match pending.exists() {
                    true => rename(&pending, &visible, true),
                    false => Ok(()),
                }
            }
            // An upload that cannot be completed any more was completed
            // before the crash (the object may have been removed since), or
            // the store dropped it: say which file, never go on silently.
            SinkDirectory::Object(object) => match object.complete(sealed).await {
                Ok(()) => Ok(()),
                Err(_) if object.store.head(&object.path(&sealed.name)).await.is_ok() => Ok(()),
                Err(e) => Err(Error::External(format!(
                    "{e}; the checkpoint names this file, but its upload is gone and the \
                     object is not there (a lifecycle rule aborting incomplete uploads sooner \
                     than the job restarted?); its rows are lost from the sink: start the job \
                     afresh under a new 'pipeline.name' to write everything again"
                ))),
            },
        }
    }

    /// Drops a sealed file that will never be published (a snapshot
    /// superseded by a newer one before its checkpoint).
    pub async fn discard(&self, sealed: &Sealed) -> Result<()> {
        match (self, &sealed.upload) {
            // The newer snapshot's pending file was renamed over it.
            (SinkDirectory::Local(_), _) | (_, None) => Ok(()),
            (SinkDirectory::Object(object), Some((upload, _))) => object
                .uploads
                .abort_multipart(&object.path(&sealed.name), upload)
                .await
                .map_err(|e| object.error("cannot drop the superseded upload of", &sealed.name, e)),
        }
    }

    /// Deletes the hidden files (in progress or pending) among `names`; an
    /// object store has none (an upload not completed is invisible).
    pub fn remove_hidden(&self, names: &[String]) -> Result<()> {
        let SinkDirectory::Local(dir) = self else {
            return Ok(());
        };
        for name in names.iter().filter(|name| name.starts_with('.')) {
            let leftover = dir.join(name);
            std::fs::remove_file(&leftover).map_err(|e| {
                Error::External(format!("cannot delete '{}': {e}", leftover.display()))
            })?;
        }
        Ok(())
    }

    /// Writes a small visible file at once (a partition's `_SUCCESS`).
    pub async fn put_file(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        match self {
            SinkDirectory::Local(dir) => std::fs::write(dir.join(name), bytes).map_err(|e| {
                Error::External(format!("cannot write '{}': {e}", dir.join(name).display()))
            }),
            SinkDirectory::Object(object) => object
                .store
                .put(&object.path(name), PutPayload::from(bytes))
                .await
                .map(|_| ())
                .map_err(|e| object.error("cannot write", name, e)),
        }
    }
}

impl ObjectPrefix {
    fn path(&self, name: &str) -> ObjectPath {
        self.prefix.clone().join(name)
    }

    /// Completes `sealed`'s upload: the object appears.
    async fn complete(&self, sealed: &Sealed) -> Result<()> {
        let Some((upload, parts)) = &sealed.upload else {
            return Err(Error::query(format!(
                "cannot publish '{}/{}': the checkpoint names no upload for it (it was \
                 taken by a job writing a local directory)",
                self.url, sealed.name
            )));
        };
        let parts = parts
            .iter()
            .map(|id| PartId {
                content_id: id.clone(),
            })
            .collect();
        self.uploads
            .complete_multipart(&self.path(&sealed.name), upload, parts)
            .await
            .map(|_| ())
            .map_err(|e| self.error("cannot publish", &sealed.name, e))
    }

    async fn list(&self) -> Result<object_store::ListResult> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        self.store
            .list_with_delimiter(prefix)
            .await
            .map_err(|e| Error::External(format!("cannot list '{}': {e}", self.url)))
    }

    fn error(&self, what: &str, name: &str, e: object_store::Error) -> Error {
        Error::External(format!("{what} '{}/{name}': {e}", self.url))
    }
}

/// The names in local directory `dir`: of its subdirectories, or of its
/// files.
fn local_names(dir: &std::path::Path, directories: bool) -> std::io::Result<Vec<String>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().is_dir() == directories)
        .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
        .collect())
}

/// `.name.<suffix>`: the hidden name of file `name` at one step.
pub fn hidden(name: &str, suffix: &str) -> String {
    format!(".{name}.{suffix}")
}

fn already_there(path: &str) -> Error {
    Error::External(format!(
        "cannot publish '{path}': a file of that name exists already (another job writing \
         the same directory under the same name?); it is left as it is"
    ))
}

/// Renames `from` to `to`, which must not exist unless `replacing`.
fn rename(from: &std::path::Path, to: &std::path::Path, replacing: bool) -> Result<()> {
    if to.exists() && !replacing {
        return Err(already_there(&to.display().to_string()));
    }
    std::fs::rename(from, to)
        .map_err(|e| Error::External(format!("cannot publish '{}': {e}", to.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn in_memory() -> (SinkDirectory, Arc<InMemory>) {
        let store = Arc::new(InMemory::new());
        let directory = SinkDirectory::Object(ObjectPrefix {
            url: "memory://bucket/out".into(),
            store: Arc::clone(&store) as _,
            uploads: Arc::clone(&store) as _,
            prefix: ObjectPath::from("out"),
        });
        (directory, store)
    }

    #[tokio::test]
    async fn an_object_file_appears_only_when_published() {
        let (directory, store) = in_memory();
        let (mut target, mut writer) = directory.create_file("part-a-00000.csv").await.unwrap();
        // More than a part's worth, so the file is uploaded in several parts.
        let line = vec![b'x'; 1 << 20];
        for _ in 0..9 {
            writer.write_all(&line).unwrap();
            directory.upload_parts(&mut target).await.unwrap();
        }
        writer.write_all(b"end").unwrap();
        drop(writer);
        let sealed = directory.seal(target, false).await.unwrap();
        assert_eq!(sealed.upload.as_ref().unwrap().1.len(), 2);
        assert!(directory.file_names().await.unwrap().is_empty());
        directory.publish(&sealed, false).await.unwrap();
        let bytes = store
            .get(&ObjectPath::from("out/part-a-00000.csv"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(bytes.len(), 9 * (1 << 20) + 3);
        assert!(bytes.ends_with(b"xend"));
        assert_eq!(directory.file_names().await.unwrap(), ["part-a-00000.csv"]);
        // Publishing again after a restart leaves it as it is; a second
        // file of the name is refused.
        directory.republish(&sealed).await.unwrap();
        let (target, writer) = directory.create_file("part-a-00000.csv").await.unwrap();
        drop(writer);
        let again = directory.seal(target, false).await.unwrap();
        assert!(directory.publish(&again, false).await.is_err());
    }
}
