//! The `WITH (...)` options of a connector table, checked against what the
//! connector understands so that a misspelt key is an error, not ignored.

use crate::error::{Error, Location, Result};
use crate::sql::create_table::CreateTable;

/// A connector's view of its table's options.
pub struct Options<'a> {
    table: &'a CreateTable,
}

/// One option's value and where it was written.
pub struct OptionValue<'a> {
    /// The key.
    pub key: &'a str,
    /// The value.
    pub value: &'a str,
    /// Where the key is, relative to the statement.
    pub location: Location,
}

impl OptionValue<'_> {
    /// A query error pointing at this option.
    pub fn error(&self, message: String) -> Error {
        Error::query_at(
            format!("option '{}': {message}", self.key),
            Some(self.location),
        )
    }
}

impl<'a> Options<'a> {
    /// Checks that every option of `table` other than `connector` is one of
    /// `known`.
    pub fn new(table: &'a CreateTable, known: &[&str]) -> Result<Self> {
        for option in &table.options {
            if option.key != "connector" && !known.contains(&option.key.as_str()) {
                return Err(Error::query_at(
                    format!(
                        "unknown option '{}' for connector '{}'; it understands: {}",
                        option.key,
                        table.option("connector").unwrap_or_default(),
                        known.join(", ")
                    ),
                    Some(option.location),
                ));
            }
        }
        Ok(Options { table })
    }

    /// The option `key`, if given.
    pub fn get(&self, key: &str) -> Option<OptionValue<'a>> {
        self.table
            .options
            .iter()
            .find(|o| o.key == key)
            .map(|o| OptionValue {
                key: &o.key,
                value: &o.value,
                location: o.location,
            })
    }

    /// The option `key`, which must be given.
    pub fn required(&self, key: &str) -> Result<OptionValue<'a>> {
        self.get(key).ok_or_else(|| {
            Error::query(format!(
                "table '{}' needs the option '{key}' in its WITH (...) clause",
                self.table.table_name()
            ))
        })
    }
}
