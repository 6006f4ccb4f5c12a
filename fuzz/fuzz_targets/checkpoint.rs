//! Feeds arbitrary bytes as a checkpoint read back by
//! `flowsql::checkpoint::CheckpointStore::latest` over an in-memory object
//! store, as a restarted job reads what a crashed one left behind, and as
//! raw Arrow IPC bytes to `flowsql::checkpoint::snapshot::decode_table`.
//!
//! Input layout: a flags byte, a reserved byte (once the pipeline's shape,
//! kept so older inputs still parse), then parts separated by
//! [`SEPARATOR`]: the first part is `chk-0000000001/manifest.json`, the
//! others are `part-0.arrow`, `part-1.arrow`, ... A `_COMMITTED` marker
//! holding the manifest's CRC32 (computed as the store computes it) is
//! always written, so the fuzzer gets past the marker check. Flags:
//!
//! - bit 0: "repair" the manifest when it is JSON: its `query` is set to
//!   the query asked for, and the file of each of its `parts` that has one
//!   is named after, sized and checksummed as the input part of the same
//!   index (so decoding the tables is reached);
//! - bit 1: ask for the query the manifest names (else a fixed one).
//!
//! Checks: reading never panics, whatever the bytes: a damaged checkpoint
//! is an error or passed over, never a crash. (A panic flowsql catches and
//! turns into an error, as `decode_table` does with Arrow's, is not a crash
//! here: the target replaces libFuzzer's aborting panic hook.)

#![no_main]

use std::sync::{Arc, LazyLock, Mutex};

use flowsql::checkpoint::snapshot::decode_table;
use flowsql::checkpoint::CheckpointStore;
use libfuzzer_sys::fuzz_target;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde_json::Value;

/// Between the manifest and each table file.
const SEPARATOR: &[u8] = b"--8<--";

/// The query asked for unless the manifest's own is.
const QUERY: &str = "fuzz";

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
});

fn split<'a>(mut data: &'a [u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    while let Some(at) = data.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        parts.push(&data[..at]);
        data = &data[at + SEPARATOR.len()..];
    }
    parts.push(data);
    parts
}

/// The manifest with its query and its parts' files' names, sizes and
/// checksums made to match `files`.
fn repair(manifest: &[u8], files: &[&[u8]]) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(manifest).ok()?;
    let object = value.as_object_mut()?;
    object.insert("query".into(), Value::from(QUERY));
    if let Some(Value::Array(parts)) = object.get_mut("parts") {
        let with_files = parts
            .iter_mut()
            .filter_map(|p| p.get_mut("file").and_then(Value::as_object_mut));
        for (i, file) in with_files.enumerate() {
            let Some(bytes) = files.get(i) else {
                continue;
            };
            file.insert("name".into(), Value::from(format!("part-{i}.arrow")));
            file.insert("bytes".into(), Value::from(bytes.len() as u64));
            file.insert("crc32".into(), Value::from(crc32fast::hash(bytes)));
        }
    }
    serde_json::to_vec_pretty(&value).ok()
}

/// The message of the last panic, caught or not.
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

fuzz_target!(
    init: {
        // libFuzzer's hook aborts at every panic, even one `decode_table`
        // catches and turns into an error (Arrow's IPC reader panics on
        // malformed messages). Note it instead; a panic that reaches the
        // target's top aborts with its message.
        std::panic::set_hook(Box::new(|info| {
            *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = info.to_string();
        }));
    },
    |data: &[u8]| {
        if std::panic::catch_unwind(|| run(data)).is_err() {
            eprintln!(
                "uncaught panic: {}",
                LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner())
            );
            std::process::abort();
        }
    }
);

fn run(data: &[u8]) {
    let [flags, _reserved, rest @ ..] = data else {
        return;
    };
    let parts = split(rest);
    let tables = &parts[1..];
    for table in tables {
        let _ = decode_table(table);
    }
    let mut manifest = parts[0].to_vec();
    if flags & 1 != 0 {
        if let Some(repaired) = repair(&manifest, tables) {
            manifest = repaired;
        }
    }
    let query = if flags & 2 != 0 {
        serde_json::from_slice::<Value>(&manifest)
            .ok()
            .and_then(|v| v.get("query").and_then(Value::as_str).map(String::from))
            .unwrap_or_else(|| QUERY.to_string())
    } else {
        QUERY.to_string()
    };
    RUNTIME.block_on(async {
        let memory = Arc::new(InMemory::new());
        let root = Path::from("job");
        let dir = root.clone().join("chk-0000000001");
        let crc = crc32fast::hash(&manifest);
        let put = |name: String, bytes: Vec<u8>| {
            let memory = Arc::clone(&memory);
            let location = dir.clone().join(name);
            async move {
                memory
                    .put(&location, PutPayload::from(bytes))
                    .await
                    .expect("an in-memory put");
            }
        };
        for (i, table) in tables.iter().enumerate() {
            put(format!("part-{i}.arrow"), table.to_vec()).await;
        }
        put("manifest.json".into(), manifest).await;
        put("_COMMITTED".into(), crc.to_string().into_bytes()).await;
        let store = CheckpointStore::new(memory, root);
        let _ = store.latest(&query).await;
    });
}
