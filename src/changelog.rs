//! The changelog: how a batch of an updating result says what each row does.
//!
//! A query whose earlier results can change (an unbounded `GROUP BY`, a
//! Top-N) emits a changelog, as Flink does: every row carries a kind,
//! `+I` (insert), `-U` (the old value of an update), `+U` (its new value) or
//! `-D` (delete). flowsql carries it the Arrow way, as RisingWave's stream
//! chunks carry an op array: an updating batch's **first column** is
//! [`OP_COLUMN`] (`op`, UTF-8, never null) holding those two-letter codes;
//! the data columns follow. That one layout is used between operators, in
//! `Engine::query`'s stream and in every output format, so what users see
//! is what operators exchange.
//!
//! An append-only result (windows, filters, projections) has no `op` column.
//! Folding a changelog (adding `+I`/`+U` rows, removing `-U`/`-D` rows)
//! gives the result as a table; for a bounded input, exactly the batch answer.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};

/// The name of the row-kind column, first in every updating batch.
pub const OP_COLUMN: &str = "op";

/// What a row of a changelog does to the result (Flink's `RowKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowKind {
    /// `+I`: a new row.
    Insert,
    /// `-U`: the old value of a row being updated (removed).
    UpdateBefore,
    /// `+U`: the new value of a row being updated (added).
    UpdateAfter,
    /// `-D`: a row removed.
    Delete,
}

impl RowKind {
    /// Every kind, in code order.
    pub const ALL: [RowKind; 4] = [
        RowKind::Insert,
        RowKind::UpdateBefore,
        RowKind::UpdateAfter,
        RowKind::Delete,
    ];

    /// The two-letter code (`+I`, `-U`, `+U`, `-D`).
    pub fn code(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }

    /// The kind of a two-letter code.
    pub fn from_code(code: &str) -> Option<RowKind> {
        RowKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// True for `-U` and `-D`, which take a row away.
    pub fn is_retraction(self) -> bool {
        matches!(self, RowKind::UpdateBefore | RowKind::Delete)
    }
}

impl fmt::Display for RowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Whether an operator's (or a query's) output can change what it emitted
/// before (Flink's changelog modes; upserts by key are a form of updating).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangelogMode {
    /// Rows are only ever added (`+I`): no `op` column.
    InsertOnly,
    /// Rows are added, updated and removed: batches start with `op`.
    Updating,
}

impl ChangelogMode {
    /// The mode of an operator that passes its input's changes on and may
    /// add its own: updating when either is.
    pub fn or(self, other: ChangelogMode) -> ChangelogMode {
        if self == ChangelogMode::Updating || other == ChangelogMode::Updating {
            ChangelogMode::Updating
        } else {
            ChangelogMode::InsertOnly
        }
    }

    /// How EXPLAIN CHANGELOG_MODE writes it (Flink's words).
    pub fn describe(self) -> &'static str {
        match self {
            ChangelogMode::InsertOnly => "[I]",
            ChangelogMode::Updating => "[I,UB,UA,D]",
        }
    }
}

/// The metadata key marking the `op` field, so a user's own column named
/// `op` in an append-only result is never taken for row kinds.
const MARK: &str = "flowsql.row_kind";

/// The `op` field.
pub fn op_field() -> Field {
    Field::new(OP_COLUMN, DataType::Utf8, false)
        .with_metadata([(MARK.to_string(), "true".to_string())].into())
}

/// True when batches of `schema` are a changelog (start with the `op`
/// field of [`op_field`]).
pub fn is_changelog(schema: &Schema) -> bool {
    schema
        .fields()
        .first()
        .is_some_and(|f| f.name() == OP_COLUMN && f.metadata().contains_key(MARK))
}

/// `schema` with the `op` column in front: the schema of an updating result.
pub fn with_op_field(schema: &Schema) -> SchemaRef {
    let mut fields = vec![Arc::new(op_field())];
    fields.extend(schema.fields().iter().cloned());
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `data` with an `op` column in front holding `kinds`, one per row.
pub fn with_kinds(data: &RecordBatch, kinds: &[RowKind]) -> Result<RecordBatch> {
    if kinds.len() != data.num_rows() {
        return Err(Error::Internal(format!(
            "{} row kinds for {} rows",
            kinds.len(),
            data.num_rows()
        )));
    }
    let op: ArrayRef = Arc::new(StringArray::from_iter_values(
        kinds.iter().map(|k| k.code()),
    ));
    let mut columns = vec![op];
    columns.extend(data.columns().iter().cloned());
    Ok(RecordBatch::try_new(
        with_op_field(&data.schema()),
        columns,
    )?)
}

/// `data` with an `op` column in front, every row of kind `kind`.
pub fn with_kind(data: &RecordBatch, kind: RowKind) -> Result<RecordBatch> {
    with_kinds(data, &vec![kind; data.num_rows()])
}

/// The kind of each row of an updating batch (whose first column is `op`).
pub fn kinds(batch: &RecordBatch) -> Result<Vec<RowKind>> {
    let not_a_changelog = || {
        Error::Internal(format!(
            "a changelog batch must start with a non-null UTF-8 '{OP_COLUMN}' column; \
             this one has {:?}",
            batch.schema().fields().first().map(|f| f.name().clone())
        ))
    };
    let column = batch.columns().first().ok_or_else(not_a_changelog)?;
    let codes = column.as_string_opt::<i32>().ok_or_else(not_a_changelog)?;
    if codes.null_count() > 0 {
        return Err(not_a_changelog());
    }
    codes
        .iter()
        .flatten()
        .map(|code| {
            RowKind::from_code(code).ok_or_else(|| {
                Error::Internal(format!("'{code}' is not a row kind (+I, -U, +U, -D)"))
            })
        })
        .collect()
}

/// The data columns of an updating batch (everything after `op`).
pub fn data(batch: &RecordBatch) -> Result<RecordBatch> {
    let mut data = batch.clone();
    if data.num_columns() == 0 {
        return Err(Error::Internal("a changelog batch without columns".into()));
    }
    data.remove_column(0);
    Ok(data)
}

/// An updating batch split by row kind: per kind present, its rows' data
/// columns; retractions (`-U`, `-D`) first, then `+I` and `+U`, so a key's
/// old value still goes before its new one. Row-wise work (filters,
/// projections) runs on each part and the kind is put back after.
pub fn split(batch: &RecordBatch) -> Result<Vec<(RowKind, RecordBatch)>> {
    let kinds = kinds(batch)?;
    let data = data(batch)?;
    if let Some(first) = kinds.first() {
        if kinds.iter().all(|k| k == first) {
            return Ok(vec![(*first, data)]);
        }
    }
    let mut parts = Vec::new();
    for kind in [
        RowKind::UpdateBefore,
        RowKind::Delete,
        RowKind::Insert,
        RowKind::UpdateAfter,
    ] {
        let rows: Vec<u32> = (0..kinds.len() as u32)
            .filter(|&i| kinds[i as usize] == kind)
            .collect();
        if !rows.is_empty() {
            parts.push((kind, take_record_batch(&data, &UInt32Array::from(rows))?));
        }
    }
    Ok(parts)
}

/// The data columns of `schema`: without its `op` column, if it has one.
pub fn data_schema(schema: &Schema) -> SchemaRef {
    match is_changelog(schema) {
        true => Arc::new(Schema::new(schema.fields()[1..].to_vec())),
        false => Arc::new(schema.clone()),
    }
}

/// The rows of `batch` as Flink prints them, one per line: `+I[v1, v2]`,
/// an updating result's rows with their kinds (`-U[...]`, `+U[...]`,
/// `-D[...]`), NULL as `NULL`.
pub fn flink_rows(batch: &RecordBatch) -> Result<String> {
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let options = FormatOptions::default().with_null("NULL");
    let (kinds, batch) = if is_changelog(&batch.schema()) {
        (Some(kinds(batch)?), data(batch)?)
    } else {
        (None, batch.clone())
    };
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut text = String::new();
    for row in 0..batch.num_rows() {
        let values: Vec<String> = formatters
            .iter()
            .map(|f| f.value(row).to_string())
            .collect();
        let kind = kinds.as_ref().map_or(RowKind::Insert, |k| k[row]);
        text.push_str(&format!("{kind}[{}]\n", values.join(", ")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;

    fn numbers(values: Vec<i64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values))]).unwrap()
    }

    #[test]
    fn kinds_go_in_front_and_come_back_out() {
        let kinds_in = [RowKind::Insert, RowKind::UpdateBefore, RowKind::UpdateAfter];
        let batch = with_kinds(&numbers(vec![1, 2, 3]), &kinds_in).unwrap();
        assert_eq!(batch.schema().field(0).name(), OP_COLUMN);
        assert!(is_changelog(&batch.schema()));
        assert!(!is_changelog(&numbers(vec![1]).schema()));
        assert_eq!(kinds(&batch).unwrap(), kinds_in);
        assert_eq!(data(&batch).unwrap(), numbers(vec![1, 2, 3]));
    }

    #[test]
    fn split_groups_rows_by_kind_keeping_their_order() {
        let batch = with_kinds(
            &numbers(vec![1, 2, 3, 4]),
            &[
                RowKind::UpdateAfter,
                RowKind::Insert,
                RowKind::UpdateAfter,
                RowKind::Delete,
            ],
        )
        .unwrap();
        let parts = split(&batch).unwrap();
        let got: Vec<(RowKind, RecordBatch)> = vec![
            (RowKind::Delete, numbers(vec![4])),
            (RowKind::Insert, numbers(vec![2])),
            (RowKind::UpdateAfter, numbers(vec![1, 3])),
        ];
        assert_eq!(parts, got);
    }

    #[test]
    fn a_batch_without_op_is_refused() {
        assert!(kinds(&numbers(vec![1])).is_err());
        let codes = ["+I", "+X"];
        assert!(RowKind::from_code(codes[1]).is_none());
        assert_eq!(RowKind::from_code(codes[0]), Some(RowKind::Insert));
    }
}
