//! `ConnectorTable`: a table made by `CREATE TABLE ... WITH ('connector' = ...)`.
//!
//! It wraps the table the connector built, adds the declared computed columns
//! as a projection over it, and keeps the whole declaration (watermark
//! included) so that `\d NAME` and the streaming planner can read it back from
//! DataFusion's catalog: the catalog stays the one place tables live, and
//! `DROP TABLE` needs no bookkeeping of ours.
//!
//! The connector is found in the registry and parses the options once
//! (`Connector::configure`); the table keeps that configuration and asks
//! it to open a stream's source or a job's sink. A table with a
//! `WATERMARK`, or whose connector only makes rows while a query runs (tcp,
//! nexmark), is a stream: it is only read by the streaming planner, and
//! scanning it as a table says so.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchema, DataFusionError};
use datafusion::datasource::TableType;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::sql::sqlparser::ast::ExprWithAlias;

use super::connector::{Connector, ConnectorConfig};
use super::declared::{declared_schema, with_computed_columns};
use super::registry;
use super::sink::Sink;
use super::source::Source;
use crate::changelog::ChangelogMode;
use crate::error::{Error, Location, Result};
use crate::metrics::StreamMetrics;
use crate::sql::create_table::{normalize, CreateTable};

/// A table declared with Flink-style DDL, backed by a connector.
#[derive(Debug, Clone)]
pub struct ConnectorTable {
    definition: CreateTable,
    connector: &'static dyn Connector,
    /// The connector's options, parsed once.
    config: Arc<dyn ConnectorConfig>,
    /// The connector's table, with computed columns added as a view.
    inner: Arc<dyn TableProvider>,
}

impl ConnectorTable {
    /// Builds the table `definition` declares: checks its columns, connector
    /// and options, plans its computed columns and checks its watermark.
    pub async fn try_new(state: &SessionState, definition: CreateTable) -> Result<Self> {
        let declared = declared_schema(state, &definition)?;
        let name = definition.option("connector").ok_or_else(|| {
            Error::query(format!(
                "table '{}' needs a connector: add 'connector' = 'filesystem' to its WITH (...) clause",
                definition.table_name()
            ))
        })?;
        let connector = registry::find(name)?;
        let config = connector.configure(state, &definition, declared).await?;
        let inner = with_computed_columns(state, &definition, config.table())?;
        check_watermark(state, &definition, &inner.schema())?;
        Ok(ConnectorTable {
            definition,
            connector,
            config,
            inner,
        })
    }

    /// The declaration this table was made from.
    pub fn definition(&self) -> &CreateTable {
        &self.definition
    }

    /// True when the table is a stream: it declares a watermark, or its
    /// connector only makes rows while a query runs (tcp, nexmark).
    pub fn is_stream(&self) -> bool {
        self.definition.watermark.is_some() || self.config.is_unbounded()
    }

    /// The column whose values are the watermark when the table declares
    /// none (nexmark's `date_time`).
    pub fn implied_watermark(&self) -> Option<&str> {
        self.config.implied_watermark()
    }

    /// Starts reading the table as a stream.
    pub async fn open_source(
        &self,
        state: SessionState,
        metrics: &Arc<StreamMetrics>,
    ) -> Result<Box<dyn Source>> {
        if !self.connector.roles().source {
            return Err(Error::query(format!(
                "table '{}' (connector '{}') cannot be read as a stream: it is a sink, only written to",
                self.definition.table_name(),
                self.connector.names()[0]
            )));
        }
        let schema = self.inner.schema();
        self.config
            .open_source(&self.definition, schema, state, metrics)
            .await
    }

    /// The writer for this sink table, for the job named `job` (file sinks
    /// name their files after it); `exactly_once` when the job takes
    /// checkpoints (file sinks then publish output only with a checkpoint).
    pub async fn open_sink(
        &self,
        job: &str,
        exactly_once: bool,
        mode: ChangelogMode,
    ) -> Result<Box<dyn Sink>> {
        let name = self.definition.table_name();
        if !self.connector.roles().sink {
            return Err(Error::query(format!(
                "table '{name}' (connector '{}') cannot be written to; sinks are: {}",
                self.connector.names()[0],
                registry::sinks().join(", ")
            )));
        }
        if mode == ChangelogMode::Updating && !self.config.takes_updates() {
            let key = self.primary_key_indices();
            return self
                .config
                .open_upsert_sink(&name, job, exactly_once, key)
                .await;
        }
        self.config.open_sink(&name, job, exactly_once).await
    }

    /// The positions of the `PRIMARY KEY` columns among the table's.
    fn primary_key_indices(&self) -> Vec<usize> {
        let names: Vec<String> = self.definition.columns.iter().map(|c| c.name()).collect();
        self.definition
            .primary_key
            .iter()
            .filter_map(|k| {
                let k = crate::sql::create_table::normalize(k);
                names.iter().position(|n| *n == k)
            })
            .collect()
    }

    /// Refuses an updating result (`mode`) for a sink that takes only
    /// appends, saying what to do.
    pub fn check_takes(&self, mode: ChangelogMode) -> Result<()> {
        if mode == ChangelogMode::InsertOnly || self.config.takes_updates() {
            return Ok(());
        }
        let keyed = !self.definition.primary_key.is_empty();
        if keyed && self.config.takes_upserts() {
            return Ok(());
        }
        let upserts = match self.config.takes_upserts() {
            true => {
                "declare the table's key, PRIMARY KEY (...) NOT ENFORCED, to write it as \
                     upserts by key; "
            }
            false => "",
        };
        Err(Error::query(format!(
            "table '{}' (connector '{}') takes only appended rows, but the query's result is \
             updating: it changes rows it emitted before (a GROUP BY without a window, a \
             Top-N); {upserts}write it to a sink that takes updates ('print', 'blackhole'), \
             or make the query append-only by grouping per window: GROUP BY window_start, \
             window_end of TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE))",
            self.definition.table_name(),
            self.connector.names()[0],
        )))
    }

    /// One line for EXPLAIN: where a stream over this table reads.
    pub fn describe(&self) -> String {
        self.config.describe(&self.definition.table_name())
    }

    fn not_streaming_yet(&self) -> DataFusionError {
        DataFusionError::NotImplemented(format!(
            "table '{}' is a stream and can only be read by a streaming query (SELECT); \
             to read its files as a bounded table, create it without the WATERMARK clause",
            self.definition.table_name()
        ))
    }
}

#[async_trait::async_trait]
impl TableProvider for ConnectorTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    /// Always a base table: it was made by `CREATE TABLE` and is dropped
    /// with `DROP TABLE`, even when computed columns make it a view inside.
    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_table_definition(&self) -> Option<&str> {
        Some(&self.definition.definition)
    }

    fn get_logical_plan(&'_ self) -> Option<Cow<'_, LogicalPlan>> {
        if self.is_stream() {
            None
        } else {
            self.inner.get_logical_plan()
        }
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        if self.is_stream() {
            return Err(self.not_streaming_yet());
        }
        self.inner.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<datafusion::logical_expr::TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }
}

/// The watermark's column must be a timestamp column of the table, and its
/// expression must evaluate to a timestamp.
fn check_watermark(state: &SessionState, definition: &CreateTable, schema: &Schema) -> Result<()> {
    let Some(watermark) = &definition.watermark else {
        return Ok(());
    };
    let at = Some(Location {
        line: watermark.column.span.start.line,
        column: watermark.column.span.start.column,
    });
    let name = normalize(&watermark.column);
    let Ok(field) = schema.field_with_name(&name) else {
        return Err(Error::query_at(
            format!("WATERMARK FOR '{name}': the table has no column '{name}'"),
            at,
        ));
    };
    if !matches!(field.data_type(), DataType::Timestamp(..)) {
        return Err(Error::query_at(
            format!(
                "WATERMARK FOR '{name}': the column is {}, but event time must be a TIMESTAMP; \
                 declare it TIMESTAMP(3) or add a computed column such as \
                 ts AS TO_TIMESTAMP_MILLIS({name})",
                field.data_type()
            ),
            at,
        ));
    }
    let df_schema = DFSchema::try_from(schema.clone())?;
    let expr = state.create_logical_expr_from_sql_expr(
        ExprWithAlias {
            expr: watermark.expr.clone(),
            alias: None,
        },
        &df_schema,
    )?;
    let data_type = expr.get_type(&df_schema)?;
    if !matches!(data_type, DataType::Timestamp(..)) {
        return Err(Error::query_at(
            format!(
                "the WATERMARK expression gives {data_type}, not a timestamp; \
                 write it like {name} - INTERVAL '5' SECOND"
            ),
            at,
        ));
    }
    Ok(())
}
