//! `QueryState`: one checkpoint of a running query, in memory: where each
//! source stands and every operator's snapshot, each under the stable id
//! the planner gave it (`bids/source`, `bids/window`), the stream
//! counters, how many result batches the query had sent before it (so a
//! sink can commit exactly the output that precedes the checkpoint), and
//! the sink's part.
//!
//! Ids, not positions, name the parts: a part is found by what it is, and
//! the store writes one file per part ([`super::CheckpointStore`]).

use std::collections::BTreeMap;

use super::Snapshot;

/// A running query's state between two batches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryState {
    /// Each replayable source's position, by the source's id.
    pub sources: BTreeMap<String, Snapshot>,
    /// Each operator's snapshot, by the operator's id.
    pub operators: BTreeMap<String, Snapshot>,
    /// The stream counters (rows read, late rows).
    pub metrics: Snapshot,
    /// What the job's sink needs to publish the output before this state
    /// (its `Sink::pre_commit`).
    pub sink: Snapshot,
    /// Result batches the query sent before this state was taken.
    pub results_before: u64,
}

/// What a part of a [`QueryState`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// A source's position.
    Source,
    /// An operator's snapshot.
    Operator,
    /// The stream counters.
    Metrics,
    /// The sink's part.
    Sink,
}

impl PartKind {
    /// How the manifest names it.
    pub fn name(self) -> &'static str {
        match self {
            PartKind::Source => "source",
            PartKind::Operator => "operator",
            PartKind::Metrics => "metrics",
            PartKind::Sink => "sink",
        }
    }

    /// From [`PartKind::name`].
    pub fn parse(name: &str) -> Option<Self> {
        [
            PartKind::Source,
            PartKind::Operator,
            PartKind::Metrics,
            PartKind::Sink,
        ]
        .into_iter()
        .find(|kind| kind.name() == name)
    }
}

impl QueryState {
    /// Every part that holds something, with its kind and id (empty ones
    /// are left out: a missing part reads back empty).
    pub fn parts(&self) -> Vec<(PartKind, &str, &Snapshot)> {
        let sources = self
            .sources
            .iter()
            .map(|(id, s)| (PartKind::Source, id.as_str(), s));
        let operators = self
            .operators
            .iter()
            .map(|(id, s)| (PartKind::Operator, id.as_str(), s));
        let single = [
            (PartKind::Metrics, "metrics", &self.metrics),
            (PartKind::Sink, "sink", &self.sink),
        ];
        sources
            .chain(operators)
            .chain(single)
            .filter(|(_, _, snapshot)| !snapshot.is_empty())
            .collect()
    }

    /// Puts back a part given by [`QueryState::parts`].
    pub fn set_part(&mut self, kind: PartKind, id: String, snapshot: Snapshot) {
        match kind {
            PartKind::Source => {
                self.sources.insert(id, snapshot);
            }
            PartKind::Operator => {
                self.operators.insert(id, snapshot);
            }
            PartKind::Metrics => self.metrics = snapshot,
            PartKind::Sink => self.sink = snapshot,
        }
    }
}
