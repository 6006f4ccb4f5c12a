//! `PartitionedOperator`: several instances of one operator, each holding
//! the keys that hash to it: the shape Flink gives parallelism (operators
//! single-threaded, parallelism at the exchange between them), without
//! changing the operators.
//!
//! ```text
//!                  ┌─ rows of keys hashing to 0 ─▶ instance 0 ─┐
//! batch ─ hash(key columns) ─ ...                              ├─▶ their outputs, in instance order
//!                  └─ rows of keys hashing to n-1 ▶ instance n-1┘
//! watermark ─▶ every instance
//! ```
//!
//! Each instance sees only its keys, in their original order, and every
//! watermark, so for an operator whose results are per key (a session per
//! key, an aggregate grouped by the key) the instances together give what
//! one instance gives. The instances are driven one call each, together
//! (`join_all`): a later step can give each a task, and a core, of its
//! own. Keys hash with a fixed seed, so after a restart a key meets the
//! instance that holds its state; a checkpoint holds every instance's
//! snapshot, each under `p<i>/`.

use datafusion::arrow::array::UInt32Array;
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::hash_utils::{create_hashes, RandomState};
use futures::future::join_all;

use super::{Operator, Output};
use crate::checkpoint::Snapshot;
use crate::error::{Error, Result};

/// The seed keys are hashed with: the same at every run.
const SEED: u64 = 0;

/// `instances` of one operator, partitioned by the columns `keys`.
pub struct PartitionedOperator {
    instances: Vec<Box<dyn Operator>>,
    keys: Vec<usize>,
    hashing: RandomState,
}

impl PartitionedOperator {
    /// Rows go to the instance their `keys` columns hash to.
    pub fn new(instances: Vec<Box<dyn Operator>>, keys: Vec<usize>) -> Result<Self> {
        if instances.is_empty() || keys.is_empty() {
            return Err(Error::Internal(
                "a partitioned operator needs instances and key columns".into(),
            ));
        }
        Ok(PartitionedOperator {
            instances,
            keys,
            hashing: RandomState::with_seed(SEED),
        })
    }

    /// `batch`'s rows, one batch per instance.
    fn partition(&self, batch: &RecordBatch) -> Result<Vec<RecordBatch>> {
        let columns = self
            .keys
            .iter()
            .map(|&i| batch.columns().get(i).cloned())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Error::Internal("a partition key column is missing".into()))?;
        let mut hashes = vec![0u64; batch.num_rows()];
        create_hashes(&columns, &self.hashing, &mut hashes)?;
        let n = self.instances.len() as u64;
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); self.instances.len()];
        for (row, hash) in hashes.iter().enumerate() {
            rows[(hash % n) as usize].push(row as u32);
        }
        rows.into_iter()
            .map(|rows| Ok(take_record_batch(batch, &UInt32Array::from(rows))?))
            .collect()
    }
}

/// The instances' outputs as one: their batches in instance order; the
/// watermark each passed on (they are given the same ones), the lowest.
fn merge(outputs: Vec<Result<Output>>) -> Result<Output> {
    let mut merged = Output::default();
    let mut watermarks = Vec::new();
    for output in outputs {
        let output = output?;
        merged.batches.extend(output.batches);
        watermarks.extend(output.watermark);
    }
    merged.watermark = watermarks.into_iter().min();
    Ok(merged)
}

#[async_trait::async_trait]
impl Operator for PartitionedOperator {
    fn name(&self) -> &'static str {
        self.instances[0].name()
    }

    fn describe(&self) -> String {
        format!(
            "{} (x{}, partitioned by columns {:?})",
            self.instances[0].describe(),
            self.instances.len(),
            self.keys
        )
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        let parts = self.partition(&batch)?;
        let calls = self
            .instances
            .iter_mut()
            .zip(parts)
            .map(|(instance, part)| instance.process_batch(part));
        merge(join_all(calls).await)
    }

    async fn on_watermark(&mut self, watermark: i64) -> Result<Output> {
        let calls = self.instances.iter_mut().map(|i| i.on_watermark(watermark));
        merge(join_all(calls).await)
    }

    async fn on_end_of_input(&mut self) -> Result<Output> {
        let calls = self.instances.iter_mut().map(|i| i.on_end_of_input());
        merge(join_all(calls).await)
    }

    fn open_windows(&self) -> usize {
        self.instances.iter().map(|i| i.open_windows()).sum()
    }

    fn state_bytes(&self) -> usize {
        self.instances.iter().map(|i| i.state_bytes()).sum()
    }

    fn needs_watermark(&self) -> bool {
        self.instances.iter().any(|i| i.needs_watermark())
    }

    async fn snapshot(&mut self) -> Result<Snapshot> {
        let mut all = Snapshot::default();
        for (i, instance) in self.instances.iter_mut().enumerate() {
            let snapshot = instance.snapshot().await?;
            for (name, value) in snapshot.values {
                all.set(format!("p{i}/{name}"), value);
            }
            for (name, batches) in snapshot.tables {
                all.set_table(format!("p{i}/{name}"), batches);
            }
        }
        Ok(all)
    }

    fn restore(&mut self, mut snapshot: Snapshot) -> Result<()> {
        for (i, instance) in self.instances.iter_mut().enumerate() {
            let prefix = format!("p{i}/");
            let mut part = Snapshot::default();
            let values: Vec<String> = snapshot.values.keys().cloned().collect();
            for name in values.iter().filter(|n| n.starts_with(&prefix)) {
                if let Some(value) = snapshot.take(name) {
                    part.set(&name[prefix.len()..], value);
                }
            }
            let tables: Vec<String> = snapshot.tables.keys().cloned().collect();
            for name in tables.iter().filter(|n| n.starts_with(&prefix)) {
                part.set_table(&name[prefix.len()..], snapshot.take_table(name));
            }
            instance.restore(part)?;
        }
        snapshot.expect_consumed("partitioned operator")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::operators::session_window::SessionWindowOperator;
    use crate::operators::testing::{emission, events, feed, rows, spec};
    use crate::window::WindowKind;

    const SESSIONS: &str = "SELECT k, window_start, window_end, COUNT(*) AS n FROM w
                            GROUP BY window_start, window_end, k";

    async fn session() -> Box<dyn Operator> {
        let window = spec(WindowKind::Session { gap: 1_000 });
        let plan = emission(&window, SESSIONS).await;
        Box::new(SessionWindowOperator::new(window, plan, Arc::default()))
    }

    async fn partitioned(n: usize) -> PartitionedOperator {
        let mut instances = Vec::new();
        for _ in 0..n {
            instances.push(session().await);
        }
        PartitionedOperator::new(instances, vec![0]).unwrap()
    }

    /// Rows of 20 keys, a row per key every 2.5 s (sessions of one row,
    /// gap 1 s), in two batches of two rows per key.
    fn input() -> [RecordBatch; 2] {
        let rows = |steps: std::ops::Range<i64>| -> Vec<(i64, i64)> {
            steps
                .flat_map(|j| (0..20).map(move |k| (k, j * 2_500 + k * 10)))
                .collect()
        };
        [events(&rows(0..2)), events(&rows(2..4))]
    }

    /// Everything `op` emits over the input, sorted.
    async fn run(op: &mut dyn Operator) -> Vec<String> {
        let [first, second] = input();
        let mut all = rows(&feed(op, &[first], 4_000).await);
        all.extend(rows(&feed(op, &[second], 7_000).await));
        all.extend(rows(&op.on_end_of_input().await.unwrap()));
        all.sort();
        all
    }

    #[tokio::test]
    async fn three_instances_give_what_one_gives() {
        let want = run(session().await.as_mut()).await;
        assert_eq!(want.len(), 80, "four sessions of each of 20 keys: {want:?}");
        assert_eq!(run(&mut partitioned(3).await).await, want);
    }

    #[tokio::test]
    async fn a_restored_partitioned_operator_goes_on_as_the_original() {
        let [first, second] = input();
        let mut original = partitioned(3).await;
        feed(&mut original, std::slice::from_ref(&first), 3_000).await;
        let snapshot = original.snapshot().await.unwrap();
        assert!(snapshot.tables.keys().any(|name| name.starts_with("p2/")));
        let mut restored = partitioned(3).await;
        restored.restore(snapshot).unwrap();
        let a = feed(&mut original, std::slice::from_ref(&second), 9_000).await;
        let b = feed(&mut restored, std::slice::from_ref(&second), 9_000).await;
        assert_eq!(rows(&a), rows(&b));
        assert!(!rows(&a).is_empty());
    }
}
