//! Feeds arbitrary bytes as a checkpoint read back by
//! `flowsql::checkpoint::CheckpointStore::latest` over an in-memory object
//! store, as a restarted job reads what a crashed one left behind, and as
//! raw Arrow IPC bytes to `flowsql::checkpoint::snapshot::decode_table`.
//!
//! Input layout: a flags byte, a shape byte, then parts separated by
//! [`SEPARATOR`]: the first part is `chk-0000000001/manifest.json`, the
//! others are `table-0.arrow`, `table-1.arrow`, ... A `_COMMITTED` marker
//! holding the manifest's CRC32 (computed as the store computes it) is
//! always written, so the fuzzer gets past the marker check. Flags:
//!
//! - bit 0: "repair" the manifest when it is JSON: its `query` is set to
//!   the query asked for, and each table's `bytes` and `crc32` to those of
//!   the table part of the same index (so decoding the tables is reached);
//! - bit 1: ask for the query the manifest names (else a fixed one);
//! - bit 2: derive the pipeline shape from the manifest's `operator/<chain>/<i>/`
//!   names (else from the shape byte: up to 3 chains of up to 3 operators).
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

/// The manifest with its query and its tables' sizes and checksums made
/// to match `tables`.
fn repair(manifest: &[u8], tables: &[&[u8]]) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(manifest).ok()?;
    let object = value.as_object_mut()?;
    object.insert("query".into(), Value::from(QUERY));
    if let Some(Value::Array(files)) = object.get_mut("tables") {
        for (i, file) in files.iter_mut().enumerate() {
            let (Some(file), Some(bytes)) = (file.as_object_mut(), tables.get(i)) else {
                continue;
            };
            file.insert("file".into(), Value::from(format!("table-{i}.arrow")));
            file.insert("bytes".into(), Value::from(bytes.len() as u64));
            file.insert("crc32".into(), Value::from(crc32fast::hash(bytes)));
        }
    }
    serde_json::to_vec_pretty(&value).ok()
}

/// Per chain, its operator count, from the names of the manifest's values
/// and tables (`operator/<chain>/<operator>/...`).
fn shape_of(manifest: &[u8]) -> Vec<usize> {
    let Ok(value) = serde_json::from_slice::<Value>(manifest) else {
        return vec![];
    };
    let mut names: Vec<String> = Vec::new();
    if let Some(values) = value.get("values").and_then(Value::as_object) {
        names.extend(values.keys().cloned());
    }
    if let Some(tables) = value.get("tables").and_then(Value::as_array) {
        names.extend(
            tables
                .iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str).map(String::from)),
        );
    }
    let mut shape: Vec<usize> = Vec::new();
    for name in &names {
        let mut parts = name.split('/');
        if parts.next() != Some("operator") {
            continue;
        }
        let chain = parts.next().and_then(|c| c.parse::<usize>().ok());
        let operator = parts.next().and_then(|o| o.parse::<usize>().ok());
        if let (Some(chain), Some(operator)) = (chain, operator) {
            if chain < 8 && operator < 16 {
                if shape.len() <= chain {
                    shape.resize(chain + 1, 0);
                }
                shape[chain] = shape[chain].max(operator + 1);
            }
        }
    }
    shape
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
    let [flags, shape_byte, rest @ ..] = data else {
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
    let shape = if flags & 4 != 0 {
        shape_of(&manifest)
    } else {
        (0..usize::from(shape_byte & 3))
            .map(|chain| usize::from((shape_byte >> (2 + 2 * chain)) & 3))
            .collect()
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
            put(format!("table-{i}.arrow"), table.to_vec()).await;
        }
        put("manifest.json".into(), manifest).await;
        put("_COMMITTED".into(), crc.to_string().into_bytes()).await;
        let store = CheckpointStore::new(memory, root);
        let _ = store.latest(&query, &shape).await;
    });
}
