//! Runs the SQL behaviour tests in `tests/sql/**/*.slt` through the Engine.
//!
//! `cargo test --test sqllogictests` checks every file; a substring argument
//! (`cargo test --test sqllogictests -- filesystem`) picks files by path, and
//! `-- --complete` rewrites the expected output in place from what the engine
//! returns (read the diff before committing it). Each file gets a fresh engine.

use std::path::{Path, PathBuf};

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use flowsql::{Engine, Error};
use sqllogictest::{
    default_column_validator, default_normalizer, default_validator, AsyncDB, DBOutput,
    DefaultColumnType, Runner,
};

struct FlowSql {
    engine: Engine,
}

#[async_trait::async_trait]
impl AsyncDB for FlowSql {
    type Error = Error;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Error> {
        let stream = self.engine.query(sql).await?;
        let schema = stream.schema();
        let batches = stream.collect().await?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = schema
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for batch in &batches {
            let formatters = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()?;
            for row in 0..batch.num_rows() {
                rows.push(
                    formatters
                        .iter()
                        .zip(batch.columns())
                        .map(|(f, c)| cell(f.value(row).to_string(), c.is_null(row)))
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "flowsql"
    }
}

fn column_type(data_type: &DataType) -> DefaultColumnType {
    if data_type.is_integer() {
        DefaultColumnType::Integer
    } else if data_type.is_floating() || matches!(data_type, DataType::Decimal128(..)) {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

/// One value as the .slt files spell it: empty strings as `(empty)`, and
/// without trailing spaces on its lines (EXPLAIN output has some).
fn cell(text: String, is_null: bool) -> String {
    if !is_null && text.is_empty() {
        "(empty)".to_string()
    } else {
        text.lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn slt_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            slt_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "slt") {
            out.push(path);
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let complete = args.iter().any(|a| a == "--complete");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();

    let mut files = Vec::new();
    slt_files(Path::new("tests/sql"), &mut files);
    files.retain(|f| {
        filters.is_empty()
            || filters
                .iter()
                .any(|p| f.to_string_lossy().contains(p.as_str()))
    });

    let mut failures = 0;
    for file in &files {
        let data_dir = tempfile::tempdir().expect("temporary data dir");
        let data_dir_path = data_dir.path().to_path_buf();
        let mut runner = Runner::new(move || {
            let data_dir = data_dir_path.clone();
            async move {
                let engine = Engine::builder().data_dir(data_dir).build().await?;
                Ok(FlowSql { engine })
            }
        });
        let result = if complete {
            runner
                .update_test_file(
                    file,
                    " ",
                    default_validator,
                    default_normalizer,
                    default_column_validator,
                )
                .await
                .map_err(|e| e.to_string())
        } else {
            runner
                .run_file_async(file)
                .await
                .map_err(|e| e.display(true).to_string())
        };
        match result {
            Ok(()) => println!("ok     {}", file.display()),
            Err(e) => {
                failures += 1;
                println!("FAILED {}\n{e}\n", file.display());
            }
        }
    }
    println!("{} files, {failures} failed", files.len());
    if failures > 0 {
        std::process::exit(1);
    }
}
