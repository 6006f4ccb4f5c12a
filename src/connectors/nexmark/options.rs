//! A nexmark table's options (`table`, `events`, `events-per-second`,
//! `seed`), read and checked once, and its columns checked against the
//! generator's.

use datafusion::arrow::compute::can_cast_types;
use datafusion::arrow::datatypes::Schema;

use super::generator::NexmarkTable;
use crate::connectors::options::Options;
use crate::error::{Error, Result};
use crate::sql::create_table::{Column, CreateTable};

/// The options the nexmark connector understands.
pub(super) const OPTIONS: &[&str] = &["table", "events", "events-per-second", "seed"];

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

    pub(super) fn inter_event_micros(&self) -> u64 {
        match self.events_per_second {
            0 => DEFAULT_INTER_EVENT_MICROS,
            rate => (1_000_000 / rate).max(1),
        }
    }
}

/// Checks `definition`'s columns against the generator's:
/// each physical one must be one of the table's, castable to its declared
/// type (computed columns are computed over them).
pub fn check_columns(
    options: &NexmarkOptions,
    definition: &CreateTable,
    declared: &Schema,
) -> Result<()> {
    let generated = options.table.schema();
    for column in &definition.columns {
        if let Column::Computed { .. } = column {
            continue;
        }
        let name = column.name();
        let Some(field) = options
            .table
            .column_index(&name)
            .map(|i| generated.field(i))
        else {
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
