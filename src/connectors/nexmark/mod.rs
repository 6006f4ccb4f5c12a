//! The `nexmark` connector, a source only: Nexmark's persons, auctions or bids,
//! generated as Arrow batches while a query runs.
//!
//! ```sql
//! CREATE TABLE bid (
//!   auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
//!   date_time TIMESTAMP(3), extra VARCHAR,
//!   WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
//! ) WITH ('connector' = 'nexmark', 'table' = 'bid', 'events' = '10000000');
//! ```
//!
//! Options: `table` (`bid`, `auction` or `person`), `events` (how many
//! events of all three kinds make up the stream, after which it ends;
//! unbounded when absent), `events-per-second` (paces generation against
//! the wall clock and spaces event times by `1/rate`; `0`, the default,
//! generates as fast as possible with event times 100 µs apart, the
//! reference's 10,000 events/s), `seed`. The declared columns are any of
//! the table's (see [`generator::NexmarkTable::schema`]), by name, cast to the declared
//! types; columns left out are not generated; computed columns (`p AS
//! PROCTIME()`) are computed over them on each batch. The stream's event time is
//! `date_time`; without a WATERMARK clause the watermark is `date_time`
//! itself (the events are in time order). Nexmark's own column names
//! (`dateTime`, `itemName`, `initialBid`, `emailAddress`, `creditCard`)
//! name the same columns, so the suite's queries run as written.
//!
//! - `options.rs`: its options and columns, checked once;
//! - `source.rs`: the generating source;
//! - `generator.rs`: the event model, straight into Arrow arrays.

pub mod count_char;
pub mod generator;
pub mod options;
pub mod source;

use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::execution::context::SessionState;

use super::computed_source::ComputedColumns;
use super::connector::{no_rows, Connector, ConnectorConfig, Roles};
use super::source::Source;
use crate::error::Result;
use crate::metrics::StreamMetrics;
use crate::sql::create_table::CreateTable;
use options::NexmarkOptions;

/// `'connector' = 'nexmark'`.
#[derive(Debug)]
pub struct Nexmark;

#[async_trait::async_trait]
impl Connector for Nexmark {
    fn names(&self) -> &'static [&'static str] {
        &["nexmark"]
    }

    fn options(&self) -> &'static [&'static str] {
        options::OPTIONS
    }

    fn roles(&self) -> Roles {
        Roles::SOURCE
    }

    async fn configure(
        &self,
        _state: &SessionState,
        definition: &CreateTable,
        declared: Schema,
    ) -> Result<Arc<dyn ConnectorConfig>> {
        let options = NexmarkOptions::from_table(definition)?;
        options::check_columns(&options, definition, &declared)?;
        // The event time as declared (`date_time` or Nexmark's `dateTime`).
        let time_column = declared
            .fields()
            .iter()
            .map(|f| f.name())
            .find(|name| {
                options.table.column_index(name) == options.table.column_index("date_time")
            })
            .cloned();
        Ok(Arc::new(NexmarkConfig {
            options,
            time_column,
            // Rows only ever come from the generator, while a query runs.
            table: no_rows(declared)?,
        }))
    }
}

/// A nexmark table: its options and its (always empty) bounded table.
#[derive(Debug)]
struct NexmarkConfig {
    options: NexmarkOptions,
    /// The declared event-time column, if declared.
    time_column: Option<String>,
    table: Arc<dyn TableProvider>,
}

#[async_trait::async_trait]
impl ConnectorConfig for NexmarkConfig {
    fn table(&self) -> Arc<dyn TableProvider> {
        Arc::clone(&self.table)
    }

    fn is_unbounded(&self) -> bool {
        true
    }

    /// The events are in time order: `date_time` is the watermark.
    fn implied_watermark(&self) -> Option<&str> {
        self.time_column.as_deref()
    }

    async fn open_source(
        &self,
        definition: &CreateTable,
        schema: SchemaRef,
        state: SessionState,
        _metrics: &Arc<StreamMetrics>,
    ) -> Result<Box<dyn Source>> {
        let physical = self.table.schema();
        let source = source::NexmarkSource::open(&self.options, Arc::clone(&physical))?;
        ComputedColumns::wrap(&state, definition, &physical, schema, Box::new(source))
    }

    fn describe(&self, name: &str) -> String {
        self.options.describe(name)
    }
}
