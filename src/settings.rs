//! Flink's settings, as DataFusion session options so `SET` takes them like
//! any other (and `SET;` and `SHOW ALL` list them):
//!
//! - `SET 'execution.checkpointing.interval' = '10s'`: jobs started after it
//!   take a checkpoint at that interval (none when unset, as in Flink).
//! - `SET 'execution.checkpointing.dir' = 's3://bucket/checkpoints'`: where
//!   their checkpoints go (a directory or an object store URL; by default
//!   `<data-dir>/checkpoints`).
//! - `SET 'pipeline.name' = 'bids-per-minute'`: the next job's name; a job
//!   started under the name of an earlier one resumes from its checkpoints.
//! - `SET 'table.exec.state.ttl' = '1 h'`: how long an unbounded operator
//!   (an updating GROUP BY, a Top-N, a deduplication) keeps a key that has not changed (forever when
//!   unset or 0, as in Flink).
//! - `SET 'sql-client.execution.result-mode' = 'tableau' | 'changelog' |
//!   'table'`: how the shell shows a streaming result in the table format
//!   (each emission a table; each change a `+I[...]` line; the table the
//!   result folds to, kept up to date in place on a terminal).

use std::any::Any;
use std::time::Duration;

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::common::config::{
    ConfigEntry, ConfigExtension, ConfigField, ConfigOptions, ExtensionOptions,
};
use datafusion::error::{DataFusionError, Result};

use crate::config::parse_interval;

/// The `execution.` settings flowsql knows.
#[derive(Debug, Clone, Default)]
pub struct ExecutionSettings {
    /// `execution.checkpointing.interval`, as written.
    pub checkpointing_interval: Option<String>,
    /// `execution.checkpointing.dir`: where checkpoints go.
    pub checkpointing_dir: Option<String>,
}

impl ExecutionSettings {
    /// The checkpoint interval, when one is set.
    pub fn interval(&self) -> Option<Duration> {
        self.checkpointing_interval
            .as_deref()
            .and_then(|text| parse_interval(text).ok())
    }
}

impl ConfigExtension for ExecutionSettings {
    const PREFIX: &'static str = "execution";
}

impl ExtensionOptions for ExecutionSettings {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "checkpointing.interval" => {
                parse_interval(value).map_err(|problem| {
                    DataFusionError::Configuration(format!(
                        "'execution.checkpointing.interval': {problem}"
                    ))
                })?;
                self.checkpointing_interval = Some(value.to_string());
                Ok(())
            }
            "checkpointing.dir" => {
                self.checkpointing_dir = Some(value.to_string());
                Ok(())
            }
            _ => Err(unknown(
                "execution",
                key,
                "execution.checkpointing.interval' and 'execution.checkpointing.dir",
            )),
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![
            ConfigEntry {
                key: "execution.checkpointing.interval".into(),
                value: self.checkpointing_interval.clone(),
                description: "How often a job takes a checkpoint (none when unset)",
            },
            ConfigEntry {
                key: "execution.checkpointing.dir".into(),
                value: self.checkpointing_dir.clone(),
                description: "Where checkpoints go: a directory or an object store URL \
                              (default: <data-dir>/checkpoints)",
            },
        ]
    }
}

/// The `pipeline.` settings flowsql knows.
#[derive(Debug, Clone, Default)]
pub struct PipelineSettings {
    /// `pipeline.name`: the next job's name.
    pub name: Option<String>,
}

impl ConfigExtension for PipelineSettings {
    const PREFIX: &'static str = "pipeline";
}

impl ExtensionOptions for PipelineSettings {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "name" => {
                let valid = !value.is_empty()
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                    && !value.starts_with('.');
                if !valid {
                    return Err(DataFusionError::Configuration(format!(
                        "'pipeline.name' = '{value}': a job name is letters, digits, '-', '_' \
                         and '.' (it names the job's checkpoint directory)"
                    )));
                }
                self.name = Some(value.to_string());
                Ok(())
            }
            _ => Err(unknown("pipeline", key, "pipeline.name")),
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![ConfigEntry {
            key: "pipeline.name".into(),
            value: self.name.clone(),
            description:
                "The next job's name; a job of an earlier name resumes from its checkpoints",
        }]
    }
}

/// The `table.` settings flowsql knows.
#[derive(Debug, Clone, Default)]
pub struct TableSettings {
    /// `table.exec.state.ttl`, as written.
    pub state_ttl: Option<String>,
    /// `table.exec.source.idle-timeout`, as written.
    pub idle_timeout: Option<String>,
}

impl TableSettings {
    /// The state TTL, when one is set (and not zero).
    pub fn state_ttl(&self) -> Option<Duration> {
        self.state_ttl
            .as_deref()
            .and_then(|text| parse_duration(text).ok())
            .filter(|ttl| !ttl.is_zero())
    }

    /// How long a source may send nothing before it no longer holds back
    /// the watermark of a join or a window over several streams, when set
    /// (and not zero).
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
            .as_deref()
            .and_then(|text| parse_duration(text).ok())
            .filter(|timeout| !timeout.is_zero())
    }
}

impl ConfigExtension for TableSettings {
    const PREFIX: &'static str = "table";
}

impl ExtensionOptions for TableSettings {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "exec.state.ttl" => {
                parse_duration(value).map_err(|problem| {
                    DataFusionError::Configuration(format!("'table.exec.state.ttl': {problem}"))
                })?;
                self.state_ttl = Some(value.to_string());
                Ok(())
            }
            "exec.source.idle-timeout" => {
                parse_duration(value).map_err(|problem| {
                    DataFusionError::Configuration(format!(
                        "'table.exec.source.idle-timeout': {problem}"
                    ))
                })?;
                self.idle_timeout = Some(value.to_string());
                Ok(())
            }
            _ => Err(unknown(
                "table",
                key,
                "table.exec.state.ttl', 'table.exec.source.idle-timeout",
            )),
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![
            ConfigEntry {
                key: "table.exec.state.ttl".into(),
                value: self.state_ttl.clone(),
                description: "How long an unbounded operator keeps a key that has not changed \
                              (forever when unset or 0)",
            },
            ConfigEntry {
                key: "table.exec.source.idle-timeout".into(),
                value: self.idle_timeout.clone(),
                description: "How long a source may send nothing before it no longer holds \
                              back the watermark of a join or of a window over several \
                              streams (never when unset or 0)",
            },
        ]
    }
}

/// `table.exec.state.ttl` is a duration that may be zero (no TTL).
fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let zero = text
        .trim()
        .trim_end_matches(|c: char| c.is_ascii_alphabetic() || c.is_whitespace())
        .trim()
        .parse::<f64>()
        .is_ok_and(|n| n == 0.0);
    if zero {
        Ok(Duration::ZERO)
    } else {
        parse_interval(text)
    }
}

/// How the shell shows a streaming result in the table format (Flink SQL
/// client's result modes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResultMode {
    /// Each emission a table, as it comes, an updating result's `op`
    /// column first.
    #[default]
    Tableau,
    /// Every change a line as Flink prints it: `+I[...]`, `-U[...]`, ...
    Changelog,
    /// The table the result folds to, kept up to date in place on a
    /// terminal (printed once, at the end, elsewhere).
    Table,
}

/// The `sql-client.` settings flowsql knows.
#[derive(Debug, Clone, Default)]
pub struct SqlClientSettings {
    /// `sql-client.execution.result-mode`.
    pub result_mode: ResultMode,
}

impl ConfigExtension for SqlClientSettings {
    const PREFIX: &'static str = "sql-client";
}

impl ExtensionOptions for SqlClientSettings {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "execution.result-mode" => {
                self.result_mode = match value.to_ascii_lowercase().as_str() {
                    "tableau" => ResultMode::Tableau,
                    "changelog" => ResultMode::Changelog,
                    "table" => ResultMode::Table,
                    _ => {
                        return Err(DataFusionError::Configuration(format!(
                            "'sql-client.execution.result-mode' = '{value}': write \
                             'tableau', 'changelog' or 'table'"
                        )))
                    }
                };
                Ok(())
            }
            _ => Err(unknown(
                "sql-client",
                key,
                "sql-client.execution.result-mode",
            )),
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        let mode = match self.result_mode {
            ResultMode::Tableau => "tableau",
            ResultMode::Changelog => "changelog",
            ResultMode::Table => "table",
        };
        vec![ConfigEntry {
            key: "sql-client.execution.result-mode".into(),
            value: Some(mode.to_string()),
            description: "How the shell shows an updating result: tableau, changelog or table",
        }]
    }
}

/// `SET;`: every setting whose value differs from `initial`'s, as `key`,
/// `value` rows.
pub fn changed(initial: &ConfigOptions, now: &ConfigOptions) -> crate::error::Result<RecordBatch> {
    let before: HashMap<String, Option<String>> = initial
        .entries()
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect();
    let mut rows: Vec<(String, String)> = now
        .entries()
        .into_iter()
        .filter(|e| before.get(&e.key) != Some(&e.value))
        .map(|e| (e.key, e.value.unwrap_or_default()))
        .collect();
    rows.sort();
    let keys = StringArray::from_iter_values(rows.iter().map(|r| r.0.as_str()));
    let values = StringArray::from_iter_values(rows.iter().map(|r| r.1.as_str()));
    Ok(RecordBatch::try_from_iter([
        ("key", Arc::new(keys) as ArrayRef),
        ("value", Arc::new(values) as ArrayRef),
    ])?)
}

/// `RESET 'key'`: the setting back to its value in `initial`; `RESET;`
/// (`key` `None`): every setting.
pub fn reset(
    options: &mut ConfigOptions,
    initial: &ConfigOptions,
    key: Option<&str>,
) -> crate::error::Result<()> {
    let Some(key) = key else {
        *options = initial.clone();
        return Ok(());
    };
    let extension = key.split('.').next().unwrap_or_default();
    match extension {
        ExecutionSettings::PREFIX => reset_in::<ExecutionSettings>(options, initial, key),
        PipelineSettings::PREFIX => reset_in::<PipelineSettings>(options, initial, key),
        TableSettings::PREFIX => reset_in::<TableSettings>(options, initial, key),
        SqlClientSettings::PREFIX => reset_in::<SqlClientSettings>(options, initial, key),
        _ => {
            let entry = initial.entries().into_iter().find(|e| e.key == key);
            match entry {
                Some(ConfigEntry {
                    value: Some(value), ..
                }) => options.set(key, &value)?,
                Some(_) => options.reset(key)?,
                None => {
                    return Err(crate::error::Error::query(format!(
                        "unknown setting '{key}'; SET; lists the ones changed, SHOW ALL every one"
                    )))
                }
            }
            Ok(())
        }
    }
}

/// Resets `key` of extension `T`: a fresh `T` given every other key's value.
fn reset_in<T: ConfigExtension + Default + Clone>(
    options: &mut ConfigOptions,
    initial: &ConfigOptions,
    key: &str,
) -> crate::error::Result<()> {
    let current = options.extensions.get::<T>().cloned().unwrap_or_default();
    let mut fresh = initial.extensions.get::<T>().cloned().unwrap_or_default();
    let known = current.entries().iter().any(|e| e.key == key);
    if !known {
        // Let the extension say what it knows.
        let name = key
            .strip_prefix(T::PREFIX)
            .unwrap_or(key)
            .trim_start_matches('.');
        fresh.set(name, "")?;
    }
    for entry in current.entries() {
        if entry.key == key {
            continue;
        }
        if let (Some(value), Some(name)) = (entry.value, entry.key.strip_prefix(T::PREFIX)) {
            fresh.set(name.trim_start_matches('.'), &value)?;
        }
    }
    options.extensions.insert(fresh);
    Ok(())
}

fn unknown(prefix: &str, key: &str, known: &str) -> DataFusionError {
    DataFusionError::Configuration(format!(
        "unknown setting '{prefix}.{key}'; flowsql knows '{known}'"
    ))
}
