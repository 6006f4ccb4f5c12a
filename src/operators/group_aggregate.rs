//! The updating aggregate: a `GROUP BY` over a stream without a window
//! (Flink's GroupAggregate). Every key's aggregates are kept and, after each
//! batch, each key whose result changed is emitted: `+I` the first time,
//! then `-U` (the old row) and `+U` (the new one); a key whose rows were all
//! retracted is deleted (`-D`).
//!
//! ```text
//! batch ─▶ rows below the GROUP BY ─▶ keys as bytes ─▶ per key: DataFusion accumulators
//!          (the query's own plan)     (Arrow row format)   update / retract
//!                                                                │ after the batch
//!                                        changed keys ◀──────────┘ evaluate, compare
//!                                        -U old, then +I/+U new
//! ```
//!
//! The accumulators are DataFusion's own (`AggregateFunctionExpr::
//! create_accumulator`), so every aggregate works: DISTINCT, FILTER and
//! user-defined ones. The rows of one batch are sorted by key once, and each
//! key's accumulators take a slice of them.
//!
//! Over an updating input (an aggregate of an aggregate), `-U`/`-D` rows are
//! retracted: by `retract_batch` for the aggregates whose retraction does not
//! depend on order (COUNT, SUM, AVG, variances); the others (MIN, MAX,
//! DISTINCT, ...) keep the key's values and are recomputed from them.
//!
//! State: every key seen, until `table.exec.state.ttl` drops the keys idle
//! longer (as in Flink, without emitting anything for them). Checkpointed as
//! one table of keys, accumulator states and last results, plus the held
//! values.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Int64Array, RecordBatch, UInt32Array,
};
use datafusion::arrow::compute::{cast, filter, take};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Accumulator;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::PhysicalExpr;

use super::{Operator, Output};
use crate::changelog::{self, ChangelogMode, RowKind};
use crate::checkpoint::Snapshot;
use crate::error::{Error, Result};
use crate::operators::emission::EmissionPlan;

/// One aggregate of the GROUP BY, as DataFusion planned it.
pub struct Aggregate {
    /// The aggregate function with its arguments.
    pub function: Arc<AggregateFunctionExpr>,
    /// Its `FILTER (WHERE ...)`, if any.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
}

/// What the planner gives the operator: where its rows come from and what
/// to compute over them.
pub struct GroupAggregate {
    /// Input rows -> the rows the GROUP BY reads (the query's filters and
    /// projections below it).
    pub input: EmissionPlan,
    /// The grouping expressions, over those rows.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// The aggregates, over those rows.
    pub aggregates: Vec<Aggregate>,
    /// The rows the GROUP BY reads (`input`'s output).
    pub input_schema: SchemaRef,
    /// The aggregate's output: the keys, then one column per aggregate.
    pub schema: SchemaRef,
    /// Whether the input is a changelog (an aggregate of an aggregate).
    pub input_mode: ChangelogMode,
    /// How long a key's state lives after its last change; `None`: forever.
    pub ttl: Option<Duration>,
    /// One line for EXPLAIN.
    pub description: String,
}

/// How an aggregate takes back retracted rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retraction {
    /// The input never retracts.
    None,
    /// `retract_batch`, whose result does not depend on order.
    Native,
    /// Keep the key's values and recompute the aggregate from them.
    Recompute,
}

/// Aggregates whose accumulator retracts any value in any order.
const RETRACTABLE: &[&str] = &[
    "count",
    "sum",
    "avg",
    "mean",
    "var",
    "var_samp",
    "var_pop",
    "variance",
    "variance_samp",
    "variance_pop",
    "stddev",
    "stddev_samp",
    "stddev_pop",
];

/// One key's state.
struct KeyState {
    accumulators: Vec<Box<dyn Accumulator>>,
    /// Per aggregate that recomputes: its values (as row bytes) and how many
    /// times each is held.
    held: Vec<BTreeMap<Box<[u8]>, i64>>,
    /// Rows in the group (inserted minus retracted, filters aside): at zero
    /// the key is deleted.
    rows: i64,
    /// The aggregates' values as last emitted.
    emitted: Option<Vec<ScalarValue>>,
    /// Some aggregate must be recomputed from its held values.
    stale: bool,
    /// The key is among the current batch's changes.
    pending: bool,
    /// When the key last changed (for the state TTL).
    last_change: Instant,
    /// Roughly what the state takes.
    bytes: usize,
}

/// Keeps every key's aggregates and emits the changes.
pub struct GroupAggregateOperator {
    plan: GroupAggregate,
    retraction: Vec<Retraction>,
    /// Converts the key columns to and from bytes.
    keys: RowConverter,
    /// Per aggregate that recomputes, its argument columns to bytes.
    values: Vec<Option<RowConverter>>,
    groups: HashMap<Box<[u8]>, KeyState>,
    bytes: usize,
    last_sweep: Instant,
}

impl GroupAggregateOperator {
    /// The operator for `plan`.
    pub fn try_new(plan: GroupAggregate) -> Result<Self> {
        let key_types: Vec<SortField> = plan.schema.fields()[..plan.keys.len()]
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        let keys = RowConverter::new(key_types).map_err(|e| {
            Error::query(format!(
                "an unbounded GROUP BY cannot group by these columns: {e}"
            ))
        })?;
        let mut retraction = Vec::new();
        let mut values = Vec::new();
        for aggregate in &plan.aggregates {
            let function = &aggregate.function;
            let how = match plan.input_mode {
                ChangelogMode::InsertOnly => Retraction::None,
                ChangelogMode::Updating => {
                    let name = function.fun().name().to_ascii_lowercase();
                    if !function.is_distinct()
                        && RETRACTABLE.contains(&name.as_str())
                        && function.create_accumulator()?.supports_retract_batch()
                    {
                        Retraction::Native
                    } else {
                        Retraction::Recompute
                    }
                }
            };
            values.push(match how {
                Retraction::Recompute => {
                    let types = function
                        .expressions()
                        .iter()
                        .map(|e| Ok(SortField::new(e.data_type(&plan.input_schema)?)))
                        .collect::<Result<Vec<_>>>()?;
                    Some(RowConverter::new(types).map_err(|e| {
                        Error::query(format!(
                            "{} over an updating input cannot hold its values: {e}",
                            function.name()
                        ))
                    })?)
                }
                _ => None,
            });
            retraction.push(how);
        }
        Ok(GroupAggregateOperator {
            plan,
            retraction,
            keys,
            values,
            groups: HashMap::new(),
            bytes: 0,
            last_sweep: Instant::now(),
        })
    }

    fn new_key(&self) -> Result<KeyState> {
        let accumulators = self
            .plan
            .aggregates
            .iter()
            .map(|a| a.function.create_accumulator())
            .collect::<datafusion::common::Result<Vec<_>>>()?;
        Ok(KeyState {
            accumulators,
            held: vec![BTreeMap::new(); self.plan.aggregates.len()],
            rows: 0,
            emitted: None,
            stale: false,
            pending: false,
            last_change: Instant::now(),
            bytes: 0,
        })
    }

    /// Adds (or, with `retract`, takes away) the rows of `batch`, which are
    /// in the aggregate's input layout; the keys changed go to `touched`.
    fn accumulate(
        &mut self,
        batch: &RecordBatch,
        retract: bool,
        touched: &mut Vec<Box<[u8]>>,
    ) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let key_columns = self
            .plan
            .keys
            .iter()
            .map(|k| Ok(k.evaluate(batch)?.into_array(n)?))
            .collect::<Result<Vec<_>>>()?;
        // Without GROUP BY columns (`SELECT COUNT(*) FROM t`), one key: no bytes.
        let rows = match key_columns.is_empty() {
            true => None,
            false => Some(self.keys.convert_columns(&key_columns)?),
        };
        let key_of = |i: usize| rows.as_ref().map_or(&[][..], |r| r.row(i).data());
        // The batch's rows grouped by key, keys in order of first arrival.
        let mut group_of: HashMap<&[u8], usize> = HashMap::new();
        let mut members: Vec<Vec<u32>> = Vec::new();
        for i in 0..n {
            let group = *group_of.entry(key_of(i)).or_insert_with(|| {
                members.push(Vec::new());
                members.len() - 1
            });
            members[group].push(i as u32);
        }
        let order = UInt32Array::from_iter_values(members.iter().flatten().copied());
        // Every aggregate's arguments (and filter), sorted by key once.
        let mut arguments: Vec<Vec<ArrayRef>> = Vec::new();
        let mut filters: Vec<Option<BooleanArray>> = Vec::new();
        for aggregate in &self.plan.aggregates {
            let mut columns = Vec::new();
            for expr in aggregate.function.expressions() {
                columns.push(take(&expr.evaluate(batch)?.into_array(n)?, &order, None)?);
            }
            arguments.push(columns);
            filters.push(match &aggregate.filter {
                Some(f) => {
                    let mask = take(&f.evaluate(batch)?.into_array(n)?, &order, None)?;
                    let mask = mask.as_boolean_opt().cloned().ok_or_else(|| {
                        Error::query("a FILTER (WHERE ...) condition must be true or false")
                    })?;
                    Some(mask)
                }
                None => None,
            });
        }
        let mut offset = 0;
        for group in &members {
            let key = key_of(group[0] as usize);
            if !self.groups.contains_key(key) {
                let state = self.new_key()?;
                self.groups.insert(key.into(), state);
            }
            let state = self
                .groups
                .get_mut(key)
                .ok_or_else(|| Error::Internal("a key vanished".into()))?;
            if !state.pending {
                state.pending = true;
                touched.push(key.into());
            }
            let len = group.len();
            for (i, aggregate) in self.plan.aggregates.iter().enumerate() {
                let mut values: Vec<ArrayRef> =
                    arguments[i].iter().map(|c| c.slice(offset, len)).collect();
                if let Some(mask) = &filters[i] {
                    let mask = mask.slice(offset, len);
                    values = values
                        .iter()
                        .map(|v| Ok(filter(v, &mask)?))
                        .collect::<Result<_>>()?;
                }
                let accumulator = &mut state.accumulators[i];
                match (self.retraction[i], retract) {
                    (Retraction::Native, true) => accumulator.retract_batch(&values)?,
                    (Retraction::Recompute, _) => {
                        let converter = self.values[i]
                            .as_ref()
                            .ok_or_else(|| Error::Internal("no value converter".into()))?;
                        hold(&mut state.held[i], converter, &values, retract)?;
                        if retract {
                            state.stale = true;
                        } else {
                            accumulator.update_batch(&values)?;
                        }
                    }
                    (_, false) => accumulator.update_batch(&values)?,
                    (Retraction::None, true) => {
                        return Err(Error::Internal(format!(
                            "'{}' was given a retraction over an insert-only input",
                            aggregate.function.name()
                        )))
                    }
                }
            }
            state.rows += if retract { -(len as i64) } else { len as i64 };
            offset += len;
        }
        Ok(())
    }

    /// The changes of the keys in `touched`: `-U`/`-D` rows first, then
    /// `+I`/`+U`.
    fn emit(&mut self, touched: Vec<Box<[u8]>>) -> Result<Option<RecordBatch>> {
        let now = Instant::now();
        let mut before: Vec<(Box<[u8]>, Vec<ScalarValue>, RowKind)> = Vec::new();
        let mut after: Vec<(Box<[u8]>, Vec<ScalarValue>, RowKind)> = Vec::new();
        for key in touched {
            let Some(state) = self.groups.get_mut(&key) else {
                continue;
            };
            state.pending = false;
            if state.rows <= 0 {
                self.bytes = self.bytes.saturating_sub(state.bytes);
                if let Some(old) = state.emitted.take() {
                    before.push((key.clone(), old, RowKind::Delete));
                }
                self.groups.remove(&key);
                continue;
            }
            if state.stale {
                recompute(state, &self.plan.aggregates, &self.values)?;
            }
            let new = state
                .accumulators
                .iter_mut()
                .map(|a| a.evaluate())
                .collect::<datafusion::common::Result<Vec<_>>>()?;
            state.last_change = now;
            let size = key.len()
                + 96
                + state.accumulators.iter().map(|a| a.size()).sum::<usize>()
                + state
                    .held
                    .iter()
                    .flat_map(|h| h.keys())
                    .map(|v| v.len() + 48)
                    .sum::<usize>();
            self.bytes = self.bytes.saturating_sub(state.bytes) + size;
            state.bytes = size;
            match state.emitted.replace(new.clone()) {
                None => after.push((key, new, RowKind::Insert)),
                Some(old) if old != new => {
                    before.push((key.clone(), old, RowKind::UpdateBefore));
                    after.push((key, new, RowKind::UpdateAfter));
                }
                Some(_) => {}
            }
        }
        before.extend(after);
        self.rows_of(before)
    }

    /// A changelog batch of `rows`: key bytes, aggregate values, kind.
    fn rows_of(
        &self,
        rows: Vec<(Box<[u8]>, Vec<ScalarValue>, RowKind)>,
    ) -> Result<Option<RecordBatch>> {
        if rows.is_empty() {
            return Ok(None);
        }
        let parser = self.keys.parser();
        let mut columns = match self.plan.keys.is_empty() {
            true => Vec::new(),
            false => self
                .keys
                .convert_rows(rows.iter().map(|(key, _, _)| parser.parse(key)))?,
        };
        let fields = self.plan.schema.fields();
        for i in 0..self.plan.aggregates.len() {
            let data_type = fields[self.plan.keys.len() + i].data_type();
            let values = ScalarValue::iter_to_array(rows.iter().map(|(_, v, _)| v[i].clone()))?;
            columns.push(cast_to(values, data_type)?);
        }
        let data = RecordBatch::try_new(Arc::clone(&self.plan.schema), columns)?;
        let kinds: Vec<RowKind> = rows.iter().map(|(_, _, kind)| *kind).collect();
        Ok(Some(changelog::with_kinds(&data, &kinds)?))
    }

    /// Drops the keys idle longer than the state TTL (at most every tenth
    /// of it).
    fn expire(&mut self) {
        let Some(ttl) = self.plan.ttl else {
            return;
        };
        if self.last_sweep.elapsed() < ttl / 10 {
            return;
        }
        self.last_sweep = Instant::now();
        let mut freed = 0;
        self.groups.retain(|_, state| {
            let keep = state.last_change.elapsed() < ttl;
            if !keep {
                freed += state.bytes;
            }
            keep
        });
        self.bytes = self.bytes.saturating_sub(freed);
    }
}

/// Adds `values` (one row per value tuple) to `held`, or takes them away.
fn hold(
    held: &mut BTreeMap<Box<[u8]>, i64>,
    converter: &RowConverter,
    values: &[ArrayRef],
    retract: bool,
) -> Result<()> {
    let rows: Rows = converter.convert_columns(values)?;
    for row in rows.iter() {
        let bytes = row.data();
        if retract {
            if let Some(count) = held.get_mut(bytes) {
                *count -= 1;
                if *count <= 0 {
                    held.remove(bytes);
                }
            }
        } else {
            *held.entry(bytes.into()).or_default() += 1;
        }
    }
    Ok(())
}

/// Rebuilds the accumulators that recompute from their held values.
fn recompute(
    state: &mut KeyState,
    aggregates: &[Aggregate],
    converters: &[Option<RowConverter>],
) -> Result<()> {
    for (i, converter) in converters.iter().enumerate() {
        let Some(converter) = converter else {
            continue;
        };
        let parser = converter.parser();
        let rows = state.held[i]
            .iter()
            .flat_map(|(bytes, count)| std::iter::repeat_n(bytes, *count as usize))
            .map(|bytes| parser.parse(bytes));
        let values = converter.convert_rows(rows)?;
        let mut accumulator = aggregates[i].function.create_accumulator()?;
        if values.first().is_some_and(|v| !v.is_empty()) {
            accumulator.update_batch(&values)?;
        }
        state.accumulators[i] = accumulator;
    }
    state.stale = false;
    Ok(())
}

/// `values` as `data_type` (an aggregate's value as its column's type).
pub(super) fn cast_to(values: ArrayRef, data_type: &DataType) -> Result<ArrayRef> {
    if values.data_type() == data_type {
        Ok(values)
    } else {
        Ok(cast(&values, data_type)?)
    }
}

#[async_trait::async_trait]
impl Operator for GroupAggregateOperator {
    fn name(&self) -> &'static str {
        "group_aggregate"
    }

    fn describe(&self) -> String {
        self.plan.description.clone()
    }

    fn changelog_mode(&self, _input: ChangelogMode) -> ChangelogMode {
        ChangelogMode::Updating
    }

    fn needs_watermark(&self) -> bool {
        false
    }

    fn state_bytes(&self) -> usize {
        self.bytes
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        if batch.num_rows() == 0 {
            return Ok(Output::default());
        }
        let parts = match self.plan.input_mode {
            ChangelogMode::InsertOnly => vec![(false, batch)],
            ChangelogMode::Updating => changelog::split(&batch)?
                .into_iter()
                .map(|(kind, rows)| (kind.is_retraction(), rows))
                .collect(),
        };
        // Keys idle past the TTL go before this batch's rows arrive: a
        // key that comes back starts afresh (+I), as in Flink.
        self.expire();
        let mut touched = Vec::new();
        for (retract, rows) in parts {
            for rows in self.plan.input.run(vec![rows]).await? {
                self.accumulate(&rows, retract, &mut touched)?;
            }
        }
        let out = self.emit(touched)?;
        Ok(Output::batches(out.into_iter().collect()))
    }

    async fn snapshot(&mut self) -> Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        if self.groups.is_empty() {
            return Ok(snapshot);
        }
        let mut keys: Vec<&[u8]> = Vec::new();
        let mut counts = Vec::new();
        let mut emitted: Vec<Vec<ScalarValue>> = vec![Vec::new(); self.plan.aggregates.len()];
        // Per aggregate, per state field, one value per key.
        let mut states: Vec<Vec<Vec<ScalarValue>>> = Vec::new();
        for aggregate in &self.plan.aggregates {
            states.push(vec![Vec::new(); aggregate.function.state_fields()?.len()]);
        }
        // Held values: key number, aggregate number, value bytes, count.
        let mut held = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (key, state) in self.groups.iter_mut() {
            let values = state
                .emitted
                .as_ref()
                .ok_or_else(|| Error::Internal("a key without a result at a checkpoint".into()))?;
            keys.push(key);
            counts.push(state.rows);
            for (i, accumulator) in state.accumulators.iter_mut().enumerate() {
                emitted[i].push(values[i].clone());
                for (j, value) in accumulator.state()?.into_iter().enumerate() {
                    states[i][j].push(value);
                }
                for (bytes, count) in &state.held[i] {
                    held.0.push(keys.len() as u64 - 1);
                    held.1.push(i as u32);
                    held.2.push(bytes.as_ref());
                    held.3.push(*count);
                }
            }
        }
        let mut columns: Vec<(String, ArrayRef)> = vec![
            ("key".into(), Arc::new(BinaryArray::from(keys))),
            ("rows".into(), Arc::new(Int64Array::from(counts))),
        ];
        for (i, values) in emitted.into_iter().enumerate() {
            columns.push((format!("value{i}"), ScalarValue::iter_to_array(values)?));
            for (j, state) in std::mem::take(&mut states[i]).into_iter().enumerate() {
                columns.push((format!("state{i}_{j}"), ScalarValue::iter_to_array(state)?));
            }
        }
        snapshot.set_columns("groups", columns)?;
        if !held.0.is_empty() {
            let held_columns: Vec<(String, ArrayRef)> = vec![
                (
                    "group".into(),
                    Arc::new(datafusion::arrow::array::UInt64Array::from(held.0)),
                ),
                ("aggregate".into(), Arc::new(UInt32Array::from(held.1))),
                ("value".into(), Arc::new(BinaryArray::from(held.2))),
                ("count".into(), Arc::new(Int64Array::from(held.3))),
            ];
            snapshot.set_columns("held", held_columns)?;
        }
        Ok(snapshot)
    }

    fn restore(&mut self, mut snapshot: Snapshot) -> Result<()> {
        let bad = || {
            Error::query(
                "the checkpoint's GROUP BY state is not readable; it was taken by a \
                 different query",
            )
        };
        let mut restored: Vec<Box<[u8]>> = Vec::new();
        for batch in snapshot.take_table("groups") {
            let keys = batch.column(0).as_binary_opt::<i32>().ok_or_else(bad)?;
            let rows = batch
                .column(1)
                .as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>()
                .ok_or_else(bad)?;
            for r in 0..batch.num_rows() {
                let mut state = self.new_key()?;
                state.rows = rows.value(r);
                let mut column = 2;
                let mut values = Vec::new();
                for (i, aggregate) in self.plan.aggregates.iter().enumerate() {
                    let value = batch.columns().get(column).ok_or_else(bad)?;
                    values.push(ScalarValue::try_from_array(value, r)?);
                    column += 1;
                    let width = aggregate.function.state_fields()?.len();
                    let state_columns: Vec<ArrayRef> = (column..column + width)
                        .map(|c| batch.columns().get(c).map(|a| a.slice(r, 1)))
                        .collect::<Option<_>>()
                        .ok_or_else(bad)?;
                    state.accumulators[i].merge_batch(&state_columns)?;
                    column += width;
                }
                if column != batch.num_columns() {
                    return Err(bad());
                }
                state.emitted = Some(values);
                let key: Box<[u8]> = keys.value(r).into();
                restored.push(key.clone());
                self.groups.insert(key, state);
            }
        }
        for batch in snapshot.take_table("held") {
            let [group, aggregate, value, count] = batch.columns() else {
                return Err(bad());
            };
            let group = group
                .as_primitive_opt::<datafusion::arrow::datatypes::UInt64Type>()
                .ok_or_else(bad)?;
            let aggregate = aggregate
                .as_primitive_opt::<datafusion::arrow::datatypes::UInt32Type>()
                .ok_or_else(bad)?;
            let value = value.as_binary_opt::<i32>().ok_or_else(bad)?;
            let count = count
                .as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>()
                .ok_or_else(bad)?;
            for r in 0..batch.num_rows() {
                let key = restored.get(group.value(r) as usize).ok_or_else(bad)?;
                let state = self.groups.get_mut(key).ok_or_else(bad)?;
                let held = state
                    .held
                    .get_mut(aggregate.value(r) as usize)
                    .ok_or_else(bad)?;
                held.insert(value.value(r).into(), count.value(r));
            }
        }
        snapshot.expect_consumed("GROUP BY")
    }
}
