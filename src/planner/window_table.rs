//! `WindowTable`: what a window table function (TUMBLE, HOP, CUMULATE,
//! SESSION) returns: its input table's rows, each once per window that holds
//! it, with `window_start`, `window_end` and `window_time` added.
//!
//! Over a bounded table (or a view of one) DataFusion scans it like any
//! table: the input is read, assigned to windows, and served from memory.
//! Over a stream, or a view whose query reads one (a filtered stream, or
//! another window's result: cascading windows), it is never scanned: the
//! streaming planner finds it in the plan and assigns windows incrementally
//! as rows arrive.

use std::sync::Arc;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{ScalarValue, TableReference};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_plan::{collect, ExecutionPlan};
use futures::FutureExt;

use crate::connectors::StreamTable;
use crate::error::{Error, Result};
use crate::window::{windowed_schema, WindowKind, WindowSpec};

/// A table function's result: `source` with rows assigned to windows.
#[derive(Debug)]
pub struct WindowTable {
    /// The input table.
    pub source: Arc<dyn TableProvider>,
    /// The window over it.
    pub spec: Arc<WindowSpec>,
}

impl WindowTable {
    /// True when `other` is the same window over the same table.
    pub fn same_window(&self, other: &WindowTable) -> bool {
        crate::operators::emission::same_table(&self.source, &other.source)
            && self.spec.same_window(&other.spec)
    }

    /// The stream this window runs over, if its input is a stream.
    pub fn stream_source(&self) -> Option<StreamTable<'_>> {
        StreamTable::of(self.source.as_ref())
    }

    /// The query of the view this window runs over, if its input is a view.
    pub fn view_plan(&self) -> Option<LogicalPlan> {
        Some(self.source.get_logical_plan()?.into_owned())
    }
}

#[async_trait::async_trait]
impl TableProvider for WindowTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.spec.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        if self.stream_source().is_some() {
            return Err(DataFusionError::Internal(format!(
                "the window over stream '{}' must be run by the streaming planner",
                self.spec.source_name
            )));
        }
        let input = self.source.scan(state, None, &[], None).await?;
        let batches = collect(input, state.task_ctx()).await?;
        let batch = concat_batches(&self.source.schema(), &batches)?;
        let (windowed, _) = self.spec.assign(&batch, None)?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![windowed]],
            Arc::clone(&self.spec.schema),
            projection.cloned(),
        )?)
    }
}

/// The DataFusion table function behind one window kind: `tumble_window`,
/// `hop_window`, `cumulate_window` or `session_window` (see
/// [`crate::sql::window_tvf`] for how Flink's syntax becomes these calls).
#[derive(Debug)]
pub struct WindowFunction {
    /// `TUMBLE`, `HOP`, `CUMULATE` or `SESSION`.
    pub name: &'static str,
}

impl TableFunctionImpl for WindowFunction {
    fn call_with_args(
        &self,
        args: TableFunctionArgs,
    ) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        Ok(self.build(args.exprs(), args.session())?)
    }
}

impl WindowFunction {
    fn build(&self, exprs: &[Expr], session: &dyn Session) -> Result<Arc<dyn TableProvider>> {
        let text = |i: usize| -> Result<String> {
            match exprs.get(i) {
                Some(Expr::Literal(ScalarValue::Utf8(Some(s)), _)) => Ok(s.clone()),
                _ => Err(self.usage()),
            }
        };
        let source_name = text(0)?;
        let time_column = text(1)?;
        let interval = |i: usize| interval_millis(exprs.get(i)).ok_or_else(|| self.usage());
        let (kind, keys_from) = match self.name {
            "TUMBLE" => (WindowKind::Tumble { size: interval(2)? }, 3),
            "HOP" => (
                WindowKind::Hop {
                    slide: interval(2)?,
                    size: interval(3)?,
                },
                4,
            ),
            "CUMULATE" => (
                WindowKind::Cumulate {
                    step: interval(2)?,
                    max_size: interval(3)?,
                },
                4,
            ),
            _ => (WindowKind::Session { gap: interval(2)? }, 3),
        };
        kind.validate()?;
        let keys = (keys_from..exprs.len())
            .map(text)
            .collect::<Result<Vec<_>>>()?;
        if self.name != "SESSION" && !keys.is_empty() {
            return Err(self.usage());
        }

        // A table, or a view (whose rows, over a stream, the streaming
        // planner makes before windowing them: cascading windows too).
        let source = lookup_table(session, &source_name)?;
        let source_schema = source.schema();
        // Unquoted names are folded to lower case in the query but not
        // inside DESCRIPTOR(...): `dateTime` finds `datetime`.
        let column = |name: &str| -> Result<usize> {
            let folded = || {
                let fields = source_schema.fields().iter();
                let mut same = fields
                    .enumerate()
                    .filter(|(_, f)| f.name().eq_ignore_ascii_case(name));
                match (same.next(), same.next()) {
                    (Some((i, _)), None) => Some(i),
                    _ => None,
                }
            };
            source_schema
                .index_of(name)
                .ok()
                .or_else(folded)
                .ok_or_else(|| {
                    Error::query(format!(
                        "{}: table '{source_name}' has no column '{name}'",
                        self.name
                    ))
                })
        };
        let time_index = column(&time_column)?;
        let time_type = source_schema.field(time_index).data_type().clone();
        if !matches!(
            time_type,
            datafusion::arrow::datatypes::DataType::Timestamp(..)
        ) {
            return Err(Error::query(format!(
                "{}: DESCRIPTOR({time_column}) must name a TIMESTAMP column, but it is {time_type}",
                self.name
            )));
        }
        let key_indices = keys.iter().map(|k| column(k)).collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(WindowTable {
            source,
            spec: Arc::new(WindowSpec {
                schema: windowed_schema(&source_schema, &time_type),
                source_name,
                time_index,
                key_indices,
                kind,
            }),
        }))
    }

    fn usage(&self) -> Error {
        let example = match self.name {
            "TUMBLE" => "TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND))",
            "HOP" => "TABLE(HOP(TABLE t, DESCRIPTOR(ts), slide, size))",
            "CUMULATE" => "TABLE(CUMULATE(TABLE t, DESCRIPTOR(ts), step, max_size))",
            _ => "TABLE(SESSION(TABLE t PARTITION BY key, DESCRIPTOR(ts), gap))",
        };
        Error::query(format!(
            "{} is written {example}, with INTERVAL literals for the sizes",
            self.name
        ))
    }
}

/// A constant interval in milliseconds (months are not a fixed length and
/// are refused).
pub(super) fn interval_millis(expr: Option<&Expr>) -> Option<i64> {
    match expr? {
        Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(v)), _) if v.months == 0 => {
            Some(v.days as i64 * 86_400_000 + v.nanoseconds / 1_000_000)
        }
        Expr::Literal(ScalarValue::IntervalDayTime(Some(v)), _) => {
            Some(v.days as i64 * 86_400_000 + v.milliseconds as i64)
        }
        _ => None,
    }
}

/// Finds table `name` in the session's catalog.
fn lookup_table(session: &dyn Session, name: &str) -> Result<Arc<dyn TableProvider>> {
    let state = session
        .as_any()
        .downcast_ref::<SessionState>()
        .ok_or_else(|| Error::Internal("window functions need a SessionState".into()))?;
    let options = state.config_options();
    let reference = TableReference::parse_str(name).resolve(
        &options.catalog.default_catalog,
        &options.catalog.default_schema,
    );
    let not_found = || Error::query(format!("table '{name}' not found"));
    let schema = state
        .catalog_list()
        .catalog(&reference.catalog)
        .and_then(|c| c.schema(&reference.schema))
        .ok_or_else(not_found)?;
    // In-memory catalogs answer at once.
    match schema.table(&reference.table).now_or_never() {
        Some(Ok(Some(table))) => Ok(table),
        Some(Ok(None)) => Err(not_found()),
        Some(Err(e)) => Err(e.into()),
        None => Err(Error::Internal(format!(
            "looking up table '{name}' would block"
        ))),
    }
}
