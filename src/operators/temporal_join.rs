//! The event-time temporal join, Flink's `FOR SYSTEM_TIME AS OF`: a
//! probe stream's rows each join the version of their key that was valid
//! at their event time, in a versioned table (a stream with a PRIMARY KEY
//! and a WATERMARK: each of its rows is a new version of its key, valid
//! from its own event time on).
//!
//! ```text
//!  probe batch ─────▶ waiting, until the watermark passes each row's time
//!  versioned batch ─▶ versions[key]: (time, row), in time order
//!  watermark w ─▶ each waiting row with time <= w joins the latest version
//!                 of its key at or before its time (LEFT: NULLs if none)
//!              └─▶ per key, the versions before the latest at or before w
//!                  are dropped: no row still to come is early enough
//! ```
//!
//! The result is append-only: a probe row is joined once, when both inputs
//! have passed its time, so a version arriving late (behind the watermark)
//! is not seen by rows already joined, as in Flink. Versions are held in
//! arrival batches and copied into one when most of them are superseded.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, UInt32Array};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{HashMap, HashSet};
use datafusion::physical_expr::PhysicalExpr;

use super::join_rows::{gather_columns, key_rows, null_columns, take_columns};
use super::{Operator, Output};
use crate::checkpoint::Snapshot;
use crate::error::{Error, Result};
use crate::window::event_times;

/// The join's shape, as the planner found it. Side 0 is the probe stream,
/// side 1 the versioned table.
pub struct TemporalJoinSpec {
    /// The probe stream and the versioned table, for EXPLAIN.
    pub names: [String; 2],
    /// The equi-join keys over each side's rows (the versioned side's are
    /// its PRIMARY KEY).
    pub keys: [Vec<Arc<dyn PhysicalExpr>>; 2],
    /// The rest of the ON condition, over the joined rows: checked on the
    /// version picked (a row whose version fails it joins nothing).
    pub residual: Option<Arc<dyn PhysicalExpr>>,
    /// The joined rows' schema (probe columns, then versioned), every
    /// column nullable.
    pub schema: SchemaRef,
    /// Each side's rows' schema.
    pub sides: [SchemaRef; 2],
    /// The event-time column of each side's rows.
    pub times: [usize; 2],
    /// LEFT JOIN: a probe row without a version is emitted, NULL-padded.
    pub left_outer: bool,
}

/// Holds the probe rows until their time is complete and the versions
/// they may need.
pub struct TemporalJoinOperator {
    spec: TemporalJoinSpec,
    converter: RowConverter,
    /// Probe rows not yet joined, in arrival batches, with their times.
    waiting: Vec<(RecordBatch, Vec<i64>)>,
    waiting_rows: usize,
    versions: Versions,
    watermark: Option<i64>,
}

/// The versioned side's rows that may still be some probe row's version.
#[derive(Default)]
struct Versions {
    /// Rows in arrival batches, superseded ones included.
    batches: Vec<RecordBatch>,
    /// Each key's versions, in time order (of equal times, the later
    /// arrival last: it wins).
    by_key: HashMap<Box<[u8]>, Vec<Version>>,
    /// The keys holding more than one version: those a watermark thins.
    several: HashSet<Box<[u8]>>,
    /// Versions in `by_key`; rows in `batches`.
    live: usize,
    stored: usize,
}

#[derive(Debug, Clone, Copy)]
struct Version {
    time: i64,
    batch: u32,
    row: u32,
}

impl Versions {
    /// The version of `key` valid at `time`: its latest at or before it.
    fn at(&self, key: &[u8], time: i64) -> Option<Version> {
        let versions = self.by_key.get(key)?;
        let after = versions.partition_point(|v| v.time <= time);
        after.checked_sub(1).map(|i| versions[i])
    }

    /// Drops every key's versions that are superseded at `watermark`:
    /// those before its latest at or before it.
    fn thin(&mut self, watermark: i64) {
        let (by_key, live) = (&mut self.by_key, &mut self.live);
        self.several.retain(|key| {
            let Some(versions) = by_key.get_mut(key) else {
                return false;
            };
            let valid = versions.partition_point(|v| v.time <= watermark);
            if valid > 1 {
                versions.drain(..valid - 1);
                *live -= valid - 1;
            }
            versions.len() > 1
        });
    }
}

impl TemporalJoinOperator {
    pub fn new(spec: TemporalJoinSpec) -> Result<Self> {
        let types = |side: usize| -> Result<Vec<DataType>> {
            spec.keys[side]
                .iter()
                .map(|e| Ok(e.data_type(&spec.sides[side])?))
                .collect()
        };
        let (probe, versioned) = (types(0)?, types(1)?);
        if probe != versioned {
            return Err(Error::Internal(format!(
                "temporal join keys of different types: {probe:?} and {versioned:?}"
            )));
        }
        let converter = RowConverter::new(probe.into_iter().map(SortField::new).collect())
            .map_err(|e| Error::query(format!("a join cannot use these join keys: {e}")))?;
        Ok(TemporalJoinOperator {
            spec,
            converter,
            waiting: Vec::new(),
            waiting_rows: 0,
            versions: Versions::default(),
            watermark: None,
        })
    }

    /// Each row's event time on side `side` (`None` for NULL).
    fn times(&self, side: usize, batch: &RecordBatch) -> Result<Vec<Option<i64>>> {
        Ok(event_times(batch.column(self.spec.times[side]))?
            .iter()
            .collect())
    }

    /// Holds a probe batch until the watermark passes its rows' times; a
    /// row without a time or key matches nothing, and a LEFT join emits
    /// it now.
    fn wait(&mut self, batch: RecordBatch) -> Result<Vec<RecordBatch>> {
        let times = self.times(0, &batch)?;
        let (_, valid) = key_rows(&self.converter, &self.spec.keys[0], &batch)?;
        let (mut hold, mut never) = (Vec::new(), Vec::new());
        for (row, time) in times.iter().enumerate() {
            match time {
                Some(_) if valid[row] => hold.push(row as u32),
                _ => never.push(row as u32),
            }
        }
        let mut out = Vec::new();
        if self.spec.left_outer && !never.is_empty() {
            out.push(self.padded(&batch, &never)?);
        }
        if !hold.is_empty() {
            let times = hold.iter().filter_map(|r| times[*r as usize]).collect();
            let rows = match never.is_empty() {
                true => batch,
                false => take_rows(&batch, &hold)?,
            };
            self.waiting_rows += rows.num_rows();
            self.waiting.push((rows, times));
        }
        Ok(out)
    }

    /// Takes a batch of versions; rows without a time or key are no
    /// version of anything.
    fn add_versions(&mut self, batch: RecordBatch) -> Result<()> {
        let times = self.times(1, &batch)?;
        let (keys, valid) = key_rows(&self.converter, &self.spec.keys[1], &batch)?;
        let id = self.versions.batches.len() as u32;
        let mut added = 0;
        for (row, time) in times.iter().enumerate() {
            let (Some(time), true) = (*time, valid[row]) else {
                continue;
            };
            let key: Box<[u8]> = keys.row(row).as_ref().into();
            let versions = self.versions.by_key.entry(key.clone()).or_default();
            let at = versions.partition_point(|v| v.time <= time);
            versions.insert(
                at,
                Version {
                    time,
                    batch: id,
                    row: row as u32,
                },
            );
            if versions.len() == 2 {
                self.versions.several.insert(key);
            }
            added += 1;
        }
        if added > 0 {
            self.versions.live += added;
            self.versions.stored += batch.num_rows();
            self.versions.batches.push(batch);
        }
        Ok(())
    }

    /// Joins the waiting rows whose time is at most `upto` (all of them
    /// for `None`) with their versions.
    fn probe(&mut self, upto: Option<i64>) -> Result<Vec<RecordBatch>> {
        let ready = |time: i64| upto.is_none_or(|w| time <= w);
        let mut out = Vec::new();
        for (batch, times) in std::mem::take(&mut self.waiting) {
            let (now, later): (Vec<u32>, Vec<u32>) =
                (0..batch.num_rows() as u32).partition(|r| ready(times[*r as usize]));
            if !later.is_empty() {
                let times = later.iter().map(|r| times[*r as usize]).collect();
                let rows = match now.is_empty() {
                    true => batch.clone(),
                    false => take_rows(&batch, &later)?,
                };
                self.waiting.push((rows, times));
            }
            if now.is_empty() {
                continue;
            }
            self.waiting_rows -= now.len();
            out.extend(self.join_rows(&batch, &times, &now)?);
        }
        Ok(out)
    }

    /// `batch`'s rows `rows` (times `times`), each joined with its version.
    fn join_rows(
        &self,
        batch: &RecordBatch,
        times: &[i64],
        rows: &[u32],
    ) -> Result<Vec<RecordBatch>> {
        let (keys, _) = key_rows(&self.converter, &self.spec.keys[0], batch)?;
        let (mut probes, mut versions, mut unmatched) = (Vec::new(), Vec::new(), Vec::new());
        for &row in rows {
            let key = keys.row(row as usize);
            match self.versions.at(key.as_ref(), times[row as usize]) {
                Some(v) => {
                    probes.push(row);
                    versions.push((v.batch as usize, v.row as usize));
                }
                None => unmatched.push(row),
            }
        }
        let mut out = Vec::new();
        if !probes.is_empty() {
            let mine = take_columns(batch, &UInt32Array::from(probes.clone()))?;
            let held: Vec<&RecordBatch> = self.versions.batches.iter().collect();
            let theirs = gather_columns(&held, self.spec.sides[1].fields().len(), &versions)?;
            let joined = self.joined(mine, theirs)?;
            match &self.spec.residual {
                None => out.push(joined),
                Some(residual) => {
                    let mask = residual.evaluate(&joined)?.into_array(joined.num_rows())?;
                    let mask = mask
                        .as_any()
                        .downcast_ref::<BooleanArray>()
                        .ok_or_else(|| {
                            Error::Internal("a join condition that is not boolean".into())
                        })?;
                    let kept: Vec<u32> = (0..joined.num_rows() as u32)
                        .filter(|i| mask.is_valid(*i as usize) && mask.value(*i as usize))
                        .collect();
                    if kept.len() < joined.num_rows() {
                        let failed = (0..probes.len())
                            .filter(|i| !(mask.is_valid(*i) && mask.value(*i)))
                            .map(|i| probes[i]);
                        unmatched.extend(failed);
                    }
                    out.push(take_rows(&joined, &kept)?);
                }
            }
        }
        if self.spec.left_outer && !unmatched.is_empty() {
            out.push(self.padded(batch, &unmatched)?);
        }
        Ok(out)
    }

    /// `batch`'s probe rows `rows`, the versioned side NULL.
    fn padded(&self, batch: &RecordBatch, rows: &[u32]) -> Result<RecordBatch> {
        let mine = take_columns(batch, &UInt32Array::from(rows.to_vec()))?;
        let nulls = null_columns(&self.spec.sides[1], rows.len());
        self.joined(mine, nulls)
    }

    fn joined(&self, mine: Vec<ArrayRef>, theirs: Vec<ArrayRef>) -> Result<RecordBatch> {
        Ok(RecordBatch::try_new(
            Arc::clone(&self.spec.schema),
            [mine, theirs].concat(),
        )?)
    }

    /// Copies the live versions into one batch, each key's together and
    /// in order, once most stored rows are superseded (or for a
    /// checkpoint, `always`).
    fn compact(&mut self, always: bool) -> Result<()> {
        let versions = &mut self.versions;
        if !always && versions.stored <= 2 * versions.live + 1024 {
            return Ok(());
        }
        let mut picks = Vec::with_capacity(versions.live);
        for list in versions.by_key.values_mut() {
            for v in list.iter_mut() {
                picks.push((v.batch as usize, v.row as usize));
                *v = Version {
                    batch: 0,
                    row: picks.len() as u32 - 1,
                    ..*v
                };
            }
        }
        let schema = Arc::clone(&self.spec.sides[1]);
        let batch = match versions.batches.len() {
            0 => RecordBatch::new_empty(schema),
            _ => {
                let held: Vec<&RecordBatch> = versions.batches.iter().collect();
                let columns = gather_columns(&held, schema.fields().len(), &picks)?;
                RecordBatch::try_new(schema, columns)?
            }
        };
        versions.stored = batch.num_rows();
        versions.batches = vec![batch];
        Ok(())
    }
}

fn take_rows(batch: &RecordBatch, rows: &[u32]) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        batch.schema(),
        take_columns(batch, &UInt32Array::from(rows.to_vec()))?,
    )?)
}

#[async_trait::async_trait]
impl Operator for TemporalJoinOperator {
    fn name(&self) -> &'static str {
        "temporal_join"
    }

    fn describe(&self) -> String {
        let [probe, versioned] = &self.spec.names;
        let kind = if self.spec.left_outer {
            "left"
        } else {
            "inner"
        };
        format!(
            "temporal join ({kind}) of {probe} with the versions of {versioned}: each row \
             joins its key's version valid at its event time, once the watermark passes it"
        )
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        self.process_input(0, batch).await
    }

    async fn process_input(&mut self, side: usize, batch: RecordBatch) -> Result<Output> {
        if batch.num_rows() == 0 {
            return Ok(Output::default());
        }
        match side {
            0 => Ok(Output::batches(self.wait(batch)?)),
            1 => {
                self.add_versions(batch)?;
                Ok(Output::default())
            }
            _ => Err(Error::Internal(format!(
                "a temporal join has no side {side}"
            ))),
        }
    }

    async fn on_watermark(&mut self, watermark: i64) -> Result<Output> {
        self.watermark = Some(watermark);
        let batches = self.probe(Some(watermark))?;
        self.versions.thin(watermark);
        self.compact(false)?;
        Ok(Output {
            batches,
            watermark: Some(watermark),
        })
    }

    async fn on_end_of_input(&mut self) -> Result<Output> {
        let batches = self.probe(None)?;
        self.versions = Versions::default();
        Ok(Output::batches(batches))
    }

    fn held_rows(&self) -> usize {
        self.waiting_rows + self.versions.live
    }

    fn state_bytes(&self) -> usize {
        let waiting: usize = self
            .waiting
            .iter()
            .map(|(b, t)| b.get_array_memory_size() + t.len() * 8)
            .sum();
        let versions: usize = self
            .versions
            .batches
            .iter()
            .map(RecordBatch::get_array_memory_size)
            .sum();
        let index: usize = self.versions.by_key.keys().map(|k| k.len() + 48).sum();
        waiting + versions + index + self.versions.live * 16
    }

    async fn snapshot(&mut self) -> Result<Snapshot> {
        self.compact(true)?;
        let mut snapshot = Snapshot::default();
        if let Some(watermark) = self.watermark {
            snapshot.set("watermark", watermark);
        }
        let waiting = self.waiting.iter().map(|(b, _)| b.clone()).collect();
        snapshot.set_table("waiting", waiting);
        snapshot.set_table("versions", self.versions.batches.clone());
        Ok(snapshot)
    }

    fn restore(&mut self, mut snapshot: Snapshot) -> Result<()> {
        self.watermark = snapshot.take("watermark");
        let sides = self.spec.sides.clone();
        let schemaed = |side: usize, batch: RecordBatch| -> Result<RecordBatch> {
            RecordBatch::try_new(Arc::clone(&sides[side]), batch.columns().to_vec()).map_err(|e| {
                Error::query(format!(
                    "the checkpoint of a temporal join does not fit the query: {e}"
                ))
            })
        };
        self.waiting.clear();
        self.waiting_rows = 0;
        for batch in snapshot.take_table("waiting") {
            let batch = schemaed(0, batch)?;
            self.wait(batch)?;
        }
        self.versions = Versions::default();
        let versions = snapshot.take_table("versions");
        if !versions.is_empty() {
            let batch = concat_batches(&versions[0].schema(), &versions)?;
            self.add_versions(schemaed(1, batch)?)?;
        }
        snapshot.expect_consumed("temporal join operator")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, TimestampMillisecondArray};
    use datafusion::arrow::datatypes::{Field, Schema, TimeUnit};
    use datafusion::physical_expr::expressions::Column;

    fn side(name: &str) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(format!("{name}_k"), DataType::Int64, true),
            Field::new(format!("{name}_v"), DataType::Int64, true),
            Field::new(
                format!("{name}_ts"),
                DataType::Timestamp(TimeUnit::Millisecond, None),
                true,
            ),
        ]))
    }

    fn operator(left_outer: bool) -> TemporalJoinOperator {
        let sides = [side("p"), side("r")];
        let fields: Vec<Field> = sides
            .iter()
            .flat_map(|s| s.fields().iter().map(|f| f.as_ref().clone()))
            .collect();
        let key =
            |name: &str| -> Vec<Arc<dyn PhysicalExpr>> { vec![Arc::new(Column::new(name, 0))] };
        TemporalJoinOperator::new(TemporalJoinSpec {
            names: ["p".into(), "r".into()],
            keys: [key("p_k"), key("r_k")],
            residual: None,
            schema: Arc::new(Schema::new(fields)),
            sides,
            times: [2, 2],
            left_outer,
        })
        .unwrap()
    }

    fn rows(schema: SchemaRef, rows: &[(i64, i64, i64)]) -> RecordBatch {
        let column = |f: fn(&(i64, i64, i64)) -> i64| rows.iter().map(f).collect::<Vec<_>>();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(column(|r| r.0))),
                Arc::new(Int64Array::from(column(|r| r.1))),
                Arc::new(TimestampMillisecondArray::from(column(|r| r.2))),
            ],
        )
        .unwrap()
    }

    /// (probe value, version value or None) of every joined row.
    fn pairs(batches: &[RecordBatch]) -> Vec<(i64, Option<i64>)> {
        let mut out = Vec::new();
        for b in batches {
            let probe = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
            let version = b.column(4).as_any().downcast_ref::<Int64Array>().unwrap();
            for i in 0..b.num_rows() {
                out.push((
                    probe.value(i),
                    version.is_valid(i).then(|| version.value(i)),
                ));
            }
        }
        out.sort();
        out
    }

    #[tokio::test]
    async fn each_row_joins_the_version_valid_at_its_time_once_the_watermark_passes() {
        let mut join = operator(true);
        let (p, r) = (join.spec.sides[0].clone(), join.spec.sides[1].clone());
        // Key 1: version 10 from t=100, 20 from t=200 (arriving out of order).
        join.process_input(1, rows(r.clone(), &[(1, 20, 200), (1, 10, 100)]))
            .await
            .unwrap();
        let early = join
            .process_input(
                0,
                rows(
                    p.clone(),
                    &[(1, 1, 150), (1, 2, 250), (1, 3, 50), (2, 4, 150)],
                ),
            )
            .await
            .unwrap();
        assert!(
            early.batches.is_empty(),
            "nothing is joined before the watermark"
        );
        let out = join.on_watermark(160).await.unwrap();
        // t=150 → version 10; t=50 → none (LEFT: NULL); key 2 has none.
        assert_eq!(
            pairs(&out.batches),
            vec![(1, Some(10)), (3, None), (4, None)]
        );
        assert_eq!(out.watermark, Some(160));
        // A version of key 1 at t=220 arrives before the watermark passes 250.
        join.process_input(1, rows(r, &[(1, 30, 220)]))
            .await
            .unwrap();
        let out = join.on_watermark(300).await.unwrap();
        assert_eq!(pairs(&out.batches), vec![(2, Some(30))]);
        // At watermark 300 only key 1's latest version is left.
        assert_eq!(join.held_rows(), 1);
    }

    #[tokio::test]
    async fn a_checkpoint_holds_waiting_rows_and_versions() {
        let mut join = operator(false);
        let (p, r) = (join.spec.sides[0].clone(), join.spec.sides[1].clone());
        join.process_input(1, rows(r.clone(), &[(1, 10, 100), (1, 20, 200), (2, 5, 0)]))
            .await
            .unwrap();
        join.process_input(0, rows(p.clone(), &[(1, 1, 150), (2, 2, 900), (3, 3, 900)]))
            .await
            .unwrap();
        let snapshot = join.snapshot().await.unwrap();
        let mut restored = operator(false);
        restored.restore(snapshot).unwrap();
        assert_eq!(restored.held_rows(), join.held_rows());
        let want = pairs(&join.on_end_of_input().await.unwrap().batches);
        let got = pairs(&restored.on_end_of_input().await.unwrap().batches);
        assert_eq!(want, vec![(1, Some(10)), (2, Some(5))]);
        assert_eq!(got, want);
    }
}
