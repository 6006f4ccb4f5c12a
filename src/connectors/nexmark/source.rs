//! The running Nexmark generator: the next batch of rows, at the asked
//! pace, and its position (the next event).

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use super::generator::NexmarkGenerator;
use super::options::NexmarkOptions;
use crate::checkpoint::Snapshot;
use crate::connectors::source::{Source, SourcePosition};
use crate::error::{Error, Result};

/// Rows per batch when generating as fast as possible.
const BATCH_ROWS: u64 = 8192;

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
        let indices = schema
            .fields()
            .iter()
            .map(|f| {
                options
                    .table
                    .column_index(f.name())
                    .ok_or_else(|| Error::Internal(format!("nexmark has no column '{}'", f.name())))
            })
            .collect::<Result<Vec<_>>>()?;
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
}

#[async_trait::async_trait]
impl Source for NexmarkSource {
    /// The next batch of rows, or `None` once `events` events were made.
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
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

    fn position(&self) -> Option<Box<dyn SourcePosition>> {
        Some(Box::new(NextEvent(self.next_event)))
    }

    /// Goes on from a position of this table's generator: the events made
    /// before are not made again.
    fn resume(&mut self, position: Snapshot) -> Result<()> {
        if let Some(NextEvent(next)) = NextEvent::restore(position)? {
            self.next_event = next;
            self.first_event = next;
        }
        Ok(())
    }
}

/// Where the generator stands: the next event it makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextEvent(pub u64);

impl NextEvent {
    /// From a snapshot made by [`SourcePosition::snapshot`]; `None` for an
    /// empty one.
    fn restore(mut snapshot: Snapshot) -> Result<Option<Self>> {
        let next = snapshot.take("next_event").map(|n| NextEvent(n as u64));
        snapshot.expect_consumed("source")?;
        Ok(next)
    }
}

impl SourcePosition for NextEvent {
    fn snapshot(&self) -> Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        snapshot.set("next_event", self.0 as i64);
        Ok(snapshot)
    }
}
