//! The `nexmark` source connector: Nexmark's persons, auctions or bids,
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
//! the table's (see [`NexmarkTable::schema`]), by name, cast to the declared
//! types; columns left out are not generated. The stream's event time is
//! `date_time`; without a WATERMARK clause the watermark is `date_time`
//! itself (the events are in time order).

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::compute::{can_cast_types, cast};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use super::generator::{NexmarkGenerator, NexmarkTable};
use crate::checkpoint::{Position, Progress};
use crate::connectors::options::Options;
use crate::error::{Error, Result};
use crate::sql::create_table::{Column, CreateTable};

/// The options the nexmark connector understands.
const OPTIONS: &[&str] = &["table", "events", "events-per-second", "seed"];

/// Rows per batch when generating as fast as possible.
const BATCH_ROWS: u64 = 8192;

/// The reference generator's event-time spacing: 10,000 events per second.
const DEFAULT_INTER_EVENT_MICROS: u64 = 100;

/// A nexmark table's options.
#[derive(Debug, Clone)]
pub struct NexmarkOptions {
    /// Which events become rows.
    pub table: NexmarkTable,
    /// Events (of all kinds) before the stream ends; `None`: never.
    pub events: Option<u64>,
    /// Wall-clock pace; 0 for as fast as possible.
    pub events_per_second: u64,
    /// The seed.
    pub seed: u64,
}

impl NexmarkOptions {
    /// Reads and checks the options of `definition`.
    pub fn from_table(definition: &CreateTable) -> Result<Self> {
        let options = Options::new(definition, OPTIONS)?;
        let table = options.required("table")?;
        let table = NexmarkTable::parse(table.value)
            .ok_or_else(|| table.error("use 'bid', 'auction' or 'person'".into()))?;
        let number = |key: &str| -> Result<Option<u64>> {
            options
                .get(key)
                .map(|o| {
                    o.value
                        .trim()
                        .replace('_', "")
                        .parse::<u64>()
                        .map_err(|_| o.error(format!("'{}' is not a whole number", o.value)))
                })
                .transpose()
        };
        Ok(NexmarkOptions {
            table,
            events: number("events")?,
            events_per_second: number("events-per-second")?.unwrap_or(0),
            seed: number("seed")?.unwrap_or(0),
        })
    }

    /// One line for EXPLAIN.
    pub fn describe(&self, name: &str) -> String {
        format!(
            "source: nexmark generator '{name}' ({} events of {}, seed {}, {})",
            self.events
                .map_or("unbounded".to_string(), |e| e.to_string()),
            self.table.name(),
            self.seed,
            match self.events_per_second {
                0 => "as fast as possible".to_string(),
                rate => format!("{rate} events/s"),
            }
        )
    }

    fn inter_event_micros(&self) -> u64 {
        match self.events_per_second {
            0 => DEFAULT_INTER_EVENT_MICROS,
            rate => (1_000_000 / rate).max(1),
        }
    }
}

/// Checks `definition`'s options, and its columns against the generator's:
/// each must be one of the table's, castable to its declared type; no
/// computed columns.
pub fn check_columns(definition: &CreateTable, declared: &Schema) -> Result<()> {
    let options = NexmarkOptions::from_table(definition)?;
    let generated = options.table.schema();
    for column in &definition.columns {
        if let Column::Computed { .. } = column {
            return Err(Error::query_at(
                "computed columns are not supported on nexmark tables yet; \
                 compute the value in the query instead",
                Some(column.location()),
            ));
        }
        let name = column.name();
        let Ok(field) = generated.field_with_name(&name) else {
            return Err(Error::query_at(
                format!(
                    "the nexmark {} table has no column '{name}'; it has: {}",
                    options.table.name(),
                    generated
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some(column.location()),
            ));
        };
        let wanted = declared.field_with_name(&name)?.data_type();
        if !can_cast_types(field.data_type(), wanted) {
            return Err(Error::query_at(
                format!(
                    "nexmark column '{name}' is {}, which cannot be read as {wanted}",
                    field.data_type()
                ),
                Some(column.location()),
            ));
        }
    }
    Ok(())
}

/// A running generator: the next batch of rows, at the asked pace.
pub struct NexmarkSource {
    generator: NexmarkGenerator,
    options: NexmarkOptions,
    schema: SchemaRef,
    /// For each output column, its index in the generator's schema.
    indices: Vec<usize>,
    next_event: u64,
    /// The first event this run generates (not 0 when resumed).
    first_event: u64,
    events_per_batch: u64,
    started: Option<Instant>,
}

impl NexmarkSource {
    /// A generator for a table of `schema` (the declared columns).
    pub fn open(options: &NexmarkOptions, schema: SchemaRef) -> Result<Self> {
        let generated = options.table.schema();
        let indices = schema
            .fields()
            .iter()
            .map(|f| generated.index_of(f.name()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let proportion = (0..50).filter(|e| options.table.owns(*e)).count() as u64;
        let mut events_per_batch = BATCH_ROWS * 50 / proportion;
        if options.events_per_second > 0 {
            // About 20 batches a second, so a slow stream still flows.
            events_per_batch = events_per_batch.min((options.events_per_second / 20).max(1));
        }
        Ok(NexmarkSource {
            generator: NexmarkGenerator::new(
                options.table,
                options.seed,
                options.inter_event_micros(),
                indices.clone(),
            ),
            options: options.clone(),
            schema,
            indices,
            next_event: 0,
            first_event: 0,
            events_per_batch,
            started: None,
        })
    }

    /// Where the generator stands: the next event it makes.
    pub fn position(&self) -> Position {
        Position::Event(self.next_event)
    }

    /// Goes on from `progress` (taken from this table's generator): the
    /// events made before are not made again.
    pub fn resume(&mut self, progress: &Progress) {
        if let Some(next) = progress.next_event {
            self.next_event = next;
            self.first_event = next;
        }
    }

    /// The next batch of rows, or `None` once `events` events were made.
    pub async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let started = *self.started.get_or_insert_with(Instant::now);
        loop {
            let end = match self.options.events {
                Some(total) if self.next_event >= total => return Ok(None),
                Some(total) => total.min(self.next_event + self.events_per_batch),
                None => self.next_event + self.events_per_batch,
            };
            if self.options.events_per_second > 0 {
                let due = Duration::from_secs_f64(
                    (self.next_event - self.first_event) as f64
                        / self.options.events_per_second as f64,
                );
                tokio::time::sleep_until((started + due).into()).await;
            }
            let mut columns = self.generator.columns(self.next_event, end);
            self.next_event = end;
            let arrays = self
                .schema
                .fields()
                .iter()
                .zip(&self.indices)
                .map(|(field, &i)| {
                    let array = columns[i]
                        .take()
                        .ok_or_else(|| Error::Internal(format!("nexmark column {i} not made")))?;
                    if array.data_type() == field.data_type() {
                        Ok(array)
                    } else {
                        Ok(cast(&array, field.data_type())?)
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            let batch = RecordBatch::try_new(Arc::clone(&self.schema), arrays)?;
            if batch.num_rows() > 0 {
                return Ok(Some(batch));
            }
        }
    }
}
