//! `QueryState`: one checkpoint of a running query, in memory: where each
//! source stands, every operator's snapshot, the stream counters, how many
//! result batches the query had sent before it (so a sink can commit
//! exactly the output that precedes the checkpoint), and the sink's part.
//!
//! Flattened to named values and tables ([`QueryState::to_snapshot`]), a
//! query state is stored like any one snapshot.

use super::Snapshot;
use crate::error::{Error, Result};

/// A running query's state between two batches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryState {
    /// Per stream read (chain), its source's progress.
    pub sources: Vec<Snapshot>,
    /// Per stream read (chain), each operator's snapshot, in order.
    pub operators: Vec<Vec<Snapshot>>,
    /// The stream counters (rows read, late rows).
    pub metrics: Snapshot,
    /// What the job's sink needs to publish the output before this state
    /// (its [`crate::connectors::sink::Sink::pre_commit`]).
    pub sink: Snapshot,
    /// Result batches the query sent before this state was taken.
    pub results_before: u64,
}

impl QueryState {
    /// Everything as one snapshot, names prefixed by where they belong:
    /// `source/<chain>/`, `operator/<chain>/<operator>/`, `metrics/`.
    pub fn to_snapshot(&self) -> Snapshot {
        let mut all = Snapshot::default();
        let mut add = |prefix: String, snapshot: &Snapshot| {
            for (name, value) in &snapshot.values {
                all.set(format!("{prefix}{name}"), *value);
            }
            for (name, batches) in &snapshot.tables {
                all.set_table(format!("{prefix}{name}"), batches.clone());
            }
        };
        for (chain, source) in self.sources.iter().enumerate() {
            add(format!("source/{chain}/"), source);
        }
        for (chain, operators) in self.operators.iter().enumerate() {
            for (i, operator) in operators.iter().enumerate() {
                add(format!("operator/{chain}/{i}/"), operator);
            }
        }
        add("metrics/".into(), &self.metrics);
        add("sink/".into(), &self.sink);
        all.set("results_before", self.results_before as i64);
        all
    }

    /// From [`QueryState::to_snapshot`], for a query of `shape` (per chain,
    /// its number of operators).
    pub fn from_snapshot(mut all: Snapshot, shape: &[usize]) -> Result<Self> {
        let mut take = |prefix: &str| {
            let mut part = Snapshot::default();
            let values: Vec<String> = all
                .values
                .keys()
                .filter(|n| n.starts_with(prefix))
                .cloned()
                .collect();
            for name in values {
                if let Some(value) = all.take(&name) {
                    part.set(&name[prefix.len()..], value);
                }
            }
            let tables: Vec<String> = all
                .tables
                .keys()
                .filter(|n| n.starts_with(prefix))
                .cloned()
                .collect();
            for name in tables {
                part.set_table(&name[prefix.len()..], all.take_table(&name));
            }
            part
        };
        let mut state = QueryState::default();
        for (chain, &operators) in shape.iter().enumerate() {
            state.sources.push(take(&format!("source/{chain}/")));
            state.operators.push(
                (0..operators)
                    .map(|i| take(&format!("operator/{chain}/{i}/")))
                    .collect(),
            );
        }
        state.metrics = take("metrics/");
        state.sink = take("sink/");
        state.results_before = all
            .take("results_before")
            .ok_or_else(|| Error::query("the checkpoint does not say how much output it covers"))?
            as u64;
        all.expect_consumed("query")?;
        Ok(state)
    }
}
