//! Flink's job settings, as DataFusion session options so `SET` takes them
//! like any other (and `SHOW ALL` lists them):
//!
//! - `SET 'execution.checkpointing.interval' = '10s'`: jobs started after it
//!   take a checkpoint at that interval (none when unset, as in Flink).
//! - `SET 'execution.checkpointing.dir' = 's3://bucket/checkpoints'`: where
//!   their checkpoints go (a directory or an object store URL; by default
//!   `<data-dir>/checkpoints`).
//! - `SET 'pipeline.name' = 'bids-per-minute'`: the next job's name; a job
//!   started under the name of an earlier one resumes from its checkpoints.

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

fn unknown(prefix: &str, key: &str, known: &str) -> DataFusionError {
    DataFusionError::Configuration(format!(
        "unknown setting '{prefix}.{key}'; flowsql knows '{known}'"
    ))
}
