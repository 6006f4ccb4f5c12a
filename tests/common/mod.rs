//! Set-up shared by the integration tests: an engine over a data directory,
//! and the bundled bids (data/bids/) as a stream and as a bounded table.
#![allow(dead_code)] // each test file uses what it needs

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
