//! Set-up shared by the integration tests: an engine over a data directory,
//! and the bundled bids (data/bids/) as a stream and as a bounded table.
#![allow(dead_code)] // each test file uses what it needs

use std::fmt::Write as _;
use std::path::Path;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use flowsql::Engine;

/// The bundled bids as a stream `bids` (watermark 5 s behind `ts`).
pub const BIDS_STREAM: &str =
    "CREATE TABLE bids (auction BIGINT, bidder BIGINT, price DOUBLE, ts TIMESTAMP(3),
    WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
  WITH ('connector' = 'filesystem', 'path' = 'data/bids/', 'format' = 'parquet')";

/// The same bids as a bounded table `bounded`: the batch oracle's input.
pub const BIDS_BOUNDED: &str =
    "CREATE TABLE bounded (auction BIGINT, bidder BIGINT, price DOUBLE, ts TIMESTAMP(3))
  WITH ('connector' = 'filesystem', 'path' = 'data/bids/', 'format' = 'parquet')";

/// An engine keeping its state (models, ...) under `dir`.
pub async fn engine_in(dir: &Path) -> Engine {
    Engine::builder().data_dir(dir).build().await.unwrap()
}

/// Every row of `batches` as text (cells joined by " | "), sorted: results
/// compared as multisets.
pub fn sorted_rows(batches: &[RecordBatch]) -> Vec<String> {
    let options = FormatOptions::default();
    let mut rows = Vec::new();
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect();
            rows.push(cells.join(" | "));
        }
    }
    rows.sort();
    rows
}

/// The result an updating query's changelog stands for: its rows (cells
/// joined by " | ", the `op` column left out), `+I`/`+U` rows added and
/// `-U`/`-D` rows taken away, sorted. Panics on a retraction of a row that
/// is not there, or a batch that is not a changelog.
pub fn folded_changelog(batches: &[RecordBatch]) -> Vec<String> {
    use std::collections::BTreeMap;
    let options = FormatOptions::default();
    let mut rows: BTreeMap<String, i64> = BTreeMap::new();
    for batch in batches {
        assert_eq!(batch.schema().field(0).name(), "op", "not a changelog");
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            let kind = formatters[0].value(row).to_string();
            let cells: Vec<String> = formatters[1..]
                .iter()
                .map(|f| f.value(row).to_string())
                .collect();
            let row = cells.join(" | ");
            let count = rows.entry(row.clone()).or_default();
            match kind.as_str() {
                "+I" | "+U" => *count += 1,
                "-U" | "-D" => {
                    assert!(*count > 0, "{kind} of a row not in the result: {row}");
                    *count -= 1;
                }
                other => panic!("'{other}' is not a row kind"),
            }
        }
    }
    let mut folded = Vec::new();
    for (row, count) in rows {
        folded.extend(std::iter::repeat_n(row, count as usize));
    }
    folded
}

/// A small deterministic generator (SplitMix64), so failures reproduce.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The rows of a partitioned filesystem table written under `dir` (CSV
/// files with a header, in `name=value/` directories, `%3A` for `:`), each
/// followed by its partition values, sorted; and the partition directories
/// that lack a `_SUCCESS` file.
pub async fn partitioned_rows(dir: &Path, depth: usize) -> (Vec<String>, Vec<String>) {
    let ctx = datafusion::prelude::SessionContext::new();
    let mut rows = Vec::new();
    let mut uncommitted = Vec::new();
    let mut level = vec![(dir.to_path_buf(), Vec::<String>::new())];
    for _ in 0..depth {
        let mut next = Vec::new();
        for (path, values) in level {
            for entry in std::fs::read_dir(&path).unwrap() {
                let entry = entry.unwrap();
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some((_, value)) = name.split_once('=') {
                    let mut values = values.clone();
                    values.push(value.replace("%3A", ":"));
                    next.push((entry.path(), values));
                }
            }
        }
        level = next;
    }
    for (path, values) in level {
        if !path.join("_SUCCESS").exists() {
            uncommitted.push(path.display().to_string());
        }
        for entry in std::fs::read_dir(&path).unwrap() {
            let file = entry.unwrap().path();
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let batches = ctx
                .read_csv(file.to_str().unwrap(), Default::default())
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            for row in sorted_rows(&batches) {
                rows.push(format!("{row} | {}", values.join(" | ")));
            }
        }
    }
    rows.sort();
    (rows, uncommitted)
}

/// Event time `ms` as CSV text (`2026-01-01T10:00:00.000`).
pub fn timestamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Writes rows `(k, v, ts)` as CSV files of `per_file` rows each, named in arrival order.
pub fn write_files(dir: &std::path::Path, rows: &[(u64, u64, i64)], per_file: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for (i, chunk) in rows.chunks(per_file).enumerate() {
        let mut text = String::from("k,v,ts\n");
        for (k, v, ts) in chunk {
            writeln!(text, "{k},{v},{}", timestamp(*ts)).unwrap();
        }
        std::fs::write(dir.join(format!("part-{i:04}.csv")), text).unwrap();
    }
}
