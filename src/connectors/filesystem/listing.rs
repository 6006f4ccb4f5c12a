//! The `filesystem` connector: Parquet, CSV and JSON files as a table.
//!
//! A `CREATE TABLE ... WITH ('connector' = 'filesystem', 'path' = ...,
//! 'format' = ...)` becomes a DataFusion listing table, made by the same
//! factory that serves `CREATE EXTERNAL TABLE`, so paths, directories, globs,
//! compression and object-store URLs behave exactly as they do there. Before
//! that, the declared columns are checked against the files' own schema, so a
//! typo in a column name fails at `CREATE TABLE` with the column's position,
//! not later with a confusing scan error.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::compute::can_cast_types;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::common::{DFSchema, TableReference};
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::CreateExternalTable;

use crate::connectors::options::{OptionValue, Options};
use crate::error::{Error, Result};
use crate::sql::create_table::{Column, CreateTable};

/// Options the filesystem connector understands, besides `connector`.
pub const OPTIONS: &[&str] = super::sink::OPTIONS;

/// The file formats and DataFusion's name for each.
const FORMATS: &[(&str, &str)] = &[("parquet", "PARQUET"), ("csv", "CSV"), ("json", "JSON")];

/// True when `path` names one file (not a directory, glob or collection).
pub fn names_one_file(path: &str) -> Result<bool> {
    let url = ListingTableUrl::parse(table_location(path))?;
    Ok(!url.is_collection() && url.get_glob().is_none())
}

/// The table-level checks of `table`'s options, once at CREATE TABLE:
/// bounded intervals and sizes, no other format's options, a non-empty path
/// inside the allowed directories.
pub fn check_options(state: &SessionState, table: &CreateTable) -> Result<()> {
    let options = Options::new(table, OPTIONS)?;
    let format = options.required("format")?.value;
    for key in [
        "source.monitor-interval",
        "sink.rolling-policy.rollover-interval",
    ] {
        if let Some(option) = options.get(key) {
            crate::config::parse_interval(option.value).map_err(|p| option.error(p))?;
        }
    }
    if let Some(option) = options.get("sink.rolling-policy.file-size") {
        crate::config::parse_size(option.value).map_err(|p| option.error(p))?;
    }
    let path = options.required("path")?;
    if path.value.trim().is_empty() {
        return Err(path.error("the path is empty; write a file, a directory or a glob".into()));
    }
    crate::config::AllowedPaths::check_in(state.config(), path.value)
        .map_err(|problem| path.error(problem))?;
    // Another format's options would be ignored: say so instead.
    for option in &table.options {
        let Some((prefix, _)) = option.key.split_once('.') else {
            continue;
        };
        let is_format = FORMATS.iter().any(|(name, _)| *name == prefix);
        if is_format && !prefix.eq_ignore_ascii_case(format) {
            return Err(Error::query_at(
                format!(
                    "option '{}' is for format '{prefix}', but this table's format is '{}'; \
                     remove it",
                    option.key, format
                ),
                Some(option.location),
            ));
        }
    }
    Ok(())
}

/// DataFusion's listing table over `path` (the table's own, or one of its
/// files) with `table`'s format and options, its columns checked against
/// `declared`.
pub async fn create_table_at(
    state: &SessionState,
    table: &CreateTable,
    declared: Schema,
    path: &str,
) -> Result<Arc<dyn TableProvider>> {
    let options = Options::new(table, OPTIONS)?;
    let format = options.required("format")?;
    let Some((format, file_type)) = FORMATS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(format.value))
    else {
        return Err(format.error(format!(
            "unknown format '{}': use 'parquet', 'csv' or 'json' (newline-delimited)",
            format.value
        )));
    };
    let path = OptionValue {
        value: path,
        ..options.required("path")?
    };
    let location = table_location(path.value);

    let mut format_options = HashMap::new();
    if *format == "csv" {
        let header = options.get("csv.header").map_or("true", |o| o.value);
        format_options.insert("format.has_header".to_string(), header.to_string());
        if let Some(delimiter) = options.get("csv.delimiter") {
            format_options.insert("format.delimiter".to_string(), delimiter.value.to_string());
        }
    }

    let factory = state
        .table_factories()
        .get(*file_type)
        .ok_or_else(|| Error::Internal(format!("DataFusion has no {file_type} table factory")))?;
    let command = |schema: Schema| -> Result<CreateExternalTable> {
        Ok(CreateExternalTable::builder(
            TableReference::bare(table.table_name()),
            location.clone(),
            file_type.to_string(),
            Arc::new(DFSchema::try_from(schema)?),
        )
        .with_options(format_options.clone())
        .with_definition(Some(table.definition.clone()))
        .build())
    };

    // A directory that is missing or holds no visible file is a sink waiting
    // for its first file (hidden ones are files being written): there is
    // nothing to check the declaration against yet.
    let local = path.value.strip_prefix("file://").unwrap_or(path.value);
    if !path.value.contains("://") || path.value.starts_with("file://") {
        let directory = Path::new(local);
        let empty = names_a_directory(local)
            && directory.read_dir().map_or(true, |mut entries| {
                entries.all(|entry| {
                    entry.is_ok_and(|e| e.file_name().to_string_lossy().starts_with('.'))
                })
            });
        if empty {
            std::fs::create_dir_all(directory)
                .map_err(|e| Error::External(format!("cannot create directory '{local}': {e}")))?;
            return factory
                .create(state, &command(declared)?)
                .await
                .map_err(|e| reading_error(path.value, e));
        }
    } else if names_a_remote_directory(path.value)
        && list_files(state, path.value, format).await?.is_empty()
    {
        // The same for a prefix in an object store (nothing to create).
        return factory
            .create(state, &command(declared)?)
            .await
            .map_err(|e| reading_error(path.value, e));
    }
    // First let DataFusion infer the files' schema, then check the declaration
    // against it, then create the table with the declared schema.
    let inferred = factory
        .create(state, &command(Schema::empty())?)
        .await
        .map_err(|e| reading_error(path.value, e))?
        .schema();
    let headerless_csv = *format == "csv"
        && options
            .get("csv.header")
            .is_some_and(|o| o.value.eq_ignore_ascii_case("false"));
    if headerless_csv {
        // Columns are positional: the declaration must cover every column.
        if declared.fields().len() != inferred.fields().len() {
            return Err(Error::query(format!(
                "'{}' has {} columns but the table declares {}; without a header, \
                 CSV columns are matched by position, so declare them all",
                path.value,
                inferred.fields().len(),
                declared.fields().len()
            )));
        }
    } else {
        check_columns(
            table,
            &declared,
            &inferred,
            path.value,
            *format == "parquet",
        )?;
    }
    // CSV columns are read by position, so a CSV table must list all of the
    // file's columns: declared ones get their declared type, the others are
    // read as text and left out by the projection ConnectorTable adds.
    let schema = if *format == "csv" && !headerless_csv {
        Schema::new(
            inferred
                .fields()
                .iter()
                .map(|f| match declared.field_with_name(f.name()) {
                    Ok(declared) => declared.clone(),
                    Err(_) => Field::new(f.name(), DataType::Utf8, true),
                })
                .collect::<Vec<_>>(),
        )
    } else {
        declared
    };
    factory
        .create(state, &command(schema)?)
        .await
        .map_err(|e| reading_error(path.value, e))
}

/// One file of a table's path, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFile {
    /// Its URL, which DataFusion can read.
    pub url: String,
    /// Its size and last change (epoch ms), when listed from a directory
    /// or glob (a table over one file does not list it).
    pub version: Option<(u64, i64)>,
}

/// The files under `path` (a file, directory, glob or URL) in path order:
/// what both a stream and a bounded table read. In a directory or glob,
/// hidden files and directories (`.name` and `_name`, as Flink and Hadoop
/// skip: a sink's in-progress and pending files, `_SUCCESS`) are left out,
/// so are empty files, files without the format's extension, and
/// subdirectories unless DataFusion's
/// `datafusion.execution.listing_table_ignore_subdirectory` is false. Lists
/// the store itself each time (DataFusion's listing cache would hide files
/// that arrive later).
pub async fn list_files(state: &SessionState, path: &str, format: &str) -> Result<Vec<ListedFile>> {
    use futures::TryStreamExt;
    let url = ListingTableUrl::parse(table_location(path))?;
    if !url.is_collection() && url.get_glob().is_none() {
        return Ok(vec![ListedFile {
            url: url.as_str().to_string(),
            version: None,
        }]);
    }
    let extension = format!(".{}", format.to_ascii_lowercase());
    let ignore_subdirectory = state
        .config_options()
        .execution
        .listing_table_ignore_subdirectory;
    let store = state.runtime_env().object_store(url.object_store())?;
    let mut files: Vec<(String, (u64, i64))> = store
        .list(Some(url.prefix()))
        .try_filter(|meta| {
            let visible = url
                .strip_prefix(&meta.location)
                .is_some_and(|mut parts| parts.all(|p| !p.starts_with(['.', '_'])));
            futures::future::ready(
                visible
                    && meta.size > 0
                    && meta.location.as_ref().ends_with(&extension)
                    && url.contains(&meta.location, ignore_subdirectory),
            )
        })
        .map_ok(|meta| {
            let version = (meta.size, meta.last_modified.timestamp_millis());
            (meta.location.to_string(), version)
        })
        .try_collect()
        .await
        .map_err(|e| Error::External(format!("cannot list '{path}': {e}")))?;
    files.sort();
    let base = url.object_store();
    let base = base.as_str().trim_end_matches('/');
    Ok(files
        .into_iter()
        .map(|(file, version)| ListedFile {
            url: format!("{base}/{file}"),
            version: Some(version),
        })
        .collect())
}

/// True when local `path` is, or will be, a directory: it ends with `/`, is
/// one, or does not exist yet and has no file extension nor glob (a sink's
/// output directory, written as Flink users write it: `'path' = 'out'`).
fn names_a_directory(path: &str) -> bool {
    let candidate = Path::new(path);
    path.ends_with('/')
        || candidate.is_dir()
        || (!candidate.exists()
            && candidate.extension().is_none()
            && !path.contains(['*', '?', '[']))
}

/// True when object-store URL `path` names a directory (a prefix): it ends
/// with `/`, or its last part has no file extension nor glob (a sink's
/// output directory: `'path' = 's3://bucket/out'`).
fn names_a_remote_directory(path: &str) -> bool {
    let Ok(url) = url::Url::parse(path) else {
        return false;
    };
    let last = url.path().rsplit('/').next().unwrap_or_default();
    !last.contains(['.', '*', '?', '['])
}

/// The location DataFusion should list: a directory gets the trailing `/`
/// that tells DataFusion to read every file in it.
fn table_location(path: &str) -> String {
    let local = path.strip_prefix("file://").unwrap_or(path);
    let is_url = path.contains("://") && !path.starts_with("file://");
    let directory = match is_url {
        true => names_a_remote_directory(path),
        false => names_a_directory(local),
    };
    if !local.ends_with('/') && directory {
        format!("{path}/")
    } else {
        path.to_string()
    }
}

fn reading_error(path: &str, err: datafusion::error::DataFusionError) -> Error {
    match Error::from(err) {
        Error::Query { message, location } => {
            Error::query_at(format!("cannot read '{path}': {message}"), location)
        }
        Error::External(message) => Error::External(format!("cannot read '{path}': {message}")),
        Error::Data(message) => Error::Data(format!("cannot read '{path}': {message}")),
        other => other,
    }
}

/// Every declared physical column must be in the files, with a type the
/// file's type can be read as. For Parquet the file's types are exact; for CSV
/// and JSON they are only DataFusion's guesses, so only names are checked.
fn check_columns(
    table: &CreateTable,
    declared: &Schema,
    files: &SchemaRef,
    path: &str,
    check_types: bool,
) -> Result<()> {
    let file_names: Vec<&str> = files.fields().iter().map(|f| f.name().as_str()).collect();
    let physical = table
        .columns
        .iter()
        .filter(|c| matches!(c, Column::Physical(_)));
    for (column, field) in physical.zip(declared.fields()) {
        let at = Some(column.location());
        let Ok(file_field) = files.field_with_name(field.name()) else {
            let hint = file_names
                .iter()
                .find(|n| n.eq_ignore_ascii_case(field.name()))
                .map(|n| format!(" (did you mean \"{n}\"? quote it to keep its case)"))
                .unwrap_or_default();
            return Err(Error::query_at(
                format!(
                    "column '{}' is declared but not found in '{path}'{hint}; the files have: {}",
                    field.name(),
                    file_names.join(", ")
                ),
                at,
            ));
        };
        if check_types && !readable_as(file_field.data_type(), field.data_type()) {
            return Err(Error::query_at(
                format!(
                    "column '{}' is declared {} but is {} in '{path}'",
                    field.name(),
                    field.data_type(),
                    file_field.data_type()
                ),
                at,
            ));
        }
    }
    Ok(())
}

/// True when a column of type `file` can be read as `declared`: the same
/// type, a number widened (never narrowed, never a fraction made whole),
/// or a non-number cast to another non-number (a timestamp of another unit,
/// text of another layout).
fn readable_as(file: &DataType, declared: &DataType) -> bool {
    file == declared
        || (file.is_numeric() && declared.is_numeric() && widens(file, declared))
        || (!file.is_numeric() && !declared.is_numeric() && can_cast_types(file, declared))
        || matches!(
            (file, declared),
            (DataType::Timestamp(..), DataType::Timestamp(..))
                | (DataType::Utf8View | DataType::LargeUtf8, DataType::Utf8)
                | (DataType::Utf8, DataType::Utf8View | DataType::LargeUtf8)
                | (
                    DataType::BinaryView | DataType::LargeBinary,
                    DataType::Binary
                )
        )
}

/// True when number type `to` widens `from` as SQL's implicit casts do:
/// integers to wider integers, to floats or to decimals with room for all
/// their digits, floats to wider floats, decimals to decimals with as many
/// digits on each side of the point.
fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let int_bits = |t: &DataType| match t {
        Int8 | UInt8 => Some(8),
        Int16 | UInt16 => Some(16),
        Int32 | UInt32 => Some(32),
        Int64 | UInt64 => Some(64),
        _ => None,
    };
    let signed = |t: &DataType| matches!(t, Int8 | Int16 | Int32 | Int64);
    match (int_bits(from), int_bits(to)) {
        (Some(f), Some(t)) => {
            (signed(from) == signed(to) && f <= t) || (!signed(from) && signed(to) && f < t)
        }
        (Some(bits), None) => {
            // Decimal digits of the widest integer of that many bits.
            let digits = match bits {
                8 => 3,
                16 => 5,
                32 => 10,
                _ => 20,
            };
            match to {
                Float32 | Float64 => true,
                Decimal128(p, s) | Decimal256(p, s) => i16::from(*p) - i16::from(*s) >= digits,
                _ => false,
            }
        }
        (None, None) => match (from, to) {
            (Decimal128(p1, s1), Decimal128(p2, s2) | Decimal256(p2, s2))
            | (Decimal256(p1, s1), Decimal256(p2, s2)) => {
                s2 >= s1 && i16::from(*p2) - i16::from(*s2) >= i16::from(*p1) - i16::from(*s1)
            }
            _ => matches!(
                (from, to),
                (Float16, Float32 | Float64) | (Float32, Float64)
            ),
        },
        (None, Some(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_not_readable_as_text_or_the_reverse() {
        assert!(readable_as(&DataType::Int32, &DataType::Int64));
        assert!(readable_as(&DataType::Float32, &DataType::Float64));
        assert!(!readable_as(&DataType::Utf8, &DataType::Float64));
        assert!(!readable_as(&DataType::Int64, &DataType::Utf8));
    }

    #[test]
    fn numbers_are_only_widened() {
        assert!(readable_as(&DataType::UInt32, &DataType::Int64));
        assert!(readable_as(&DataType::Int64, &DataType::Float64));
        assert!(readable_as(
            &DataType::Decimal128(10, 2),
            &DataType::Decimal128(12, 3)
        ));
        for (file, declared) in [
            (DataType::Float64, DataType::Int64),
            (DataType::Float64, DataType::Float32),
            (DataType::Int64, DataType::Int32),
            (DataType::Int64, DataType::UInt64),
            (DataType::UInt64, DataType::Int64),
            (DataType::Decimal128(10, 2), DataType::Decimal128(10, 4)),
        ] {
            assert!(!readable_as(&file, &declared), "{file} as {declared}");
        }
    }
}
