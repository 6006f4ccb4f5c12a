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
//!   (an updating GROUP BY) keeps a key that has not changed (forever when
//!   unset or 0, as in Flink).
//! - `SET 'sql-client.execution.result-mode' = 'changelog' | 'table' |
//!   'tableau'`: how the shell shows an updating result.

use std::any::Any;
use std::time::Duration;

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
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
}

impl TableSettings {
    /// The state TTL, when one is set (and not zero).
    pub fn state_ttl(&self) -> Option<Duration> {
        self.state_ttl
            .as_deref()
            .and_then(|text| parse_duration(text).ok())
            .filter(|ttl| !ttl.is_zero())
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
            _ => Err(unknown("table", key, "table.exec.state.ttl")),
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![ConfigEntry {
            key: "table.exec.state.ttl".into(),
            value: self.state_ttl.clone(),
            description: "How long an unbounded operator keeps a key that has not changed \
                          (forever when unset or 0)",
        }]
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

/// How the shell shows an updating result (Flink SQL client's result modes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResultMode {
    /// Rows printed as they come, the changelog's `op` column first.
    #[default]
    Tableau,
    /// The changelog, one change per line.
    Changelog,
    /// The result as a table, redrawn in place as it changes.
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

fn unknown(prefix: &str, key: &str, known: &str) -> DataFusionError {
    DataFusionError::Configuration(format!(
        "unknown setting '{prefix}.{key}'; flowsql knows '{known}'"
    ))
}
