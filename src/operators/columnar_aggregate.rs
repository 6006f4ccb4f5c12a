//! The updating aggregate's fast path: a `GROUP BY` over an insert-only
//! stream whose aggregates are all COUNT, SUM, MIN, MAX or AVG of integers
//! or floats (no DISTINCT, no FILTER). Each aggregate's state is a typed
//! column indexed by group, updated row by row in one pass over the batch;
//! the changes are gathered into Arrow arrays for the groups touched. The
//! result, and its changelog, are those of [`super::group_aggregate`]
//! (which runs every other GROUP BY with DataFusion's accumulators):
//! `+I` for a new key, `-U` old and `+U` new for a changed one, nothing for
//! a key whose aggregates did not change.
//!
//! ```text
//! batch ─▶ keys as bytes ─▶ group numbers ─▶ per aggregate: sum[g] += v, max[g] = ...
//!                                                   │ old values of the groups touched, then new
//!                                                   ▼
//!                                      -U old / +I, +U new (Arrow arrays gathered by group)
//! ```
//!
//! The arithmetic is DataFusion's: integer sums wrap, float sums add in
//! arrival order, MIN/MAX order floats totally (NaN highest), AVG divides
//! a float sum by the count, and an aggregate of no values is NULL (COUNT:
//! 0). State: per group its key bytes and 8-16 bytes per aggregate.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Float64Array, Int64Array, RecordBatch,
};
use datafusion::arrow::compute::kernels::boolean::or;
use datafusion::arrow::compute::kernels::cmp::distinct;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::HashMap;
use datafusion::physical_expr::PhysicalExpr;

use super::group_aggregate::cast_to;
use super::{Operator, Output};
use crate::changelog::{self, ChangelogMode, RowKind};
use crate::checkpoint::Snapshot;
use crate::error::{Error, Result};
use crate::operators::emission::EmissionPlan;

/// Which aggregate, over which input type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `COUNT(x)`, `COUNT(*)`: non-null values.
    Count,
    /// `SUM` of integers (wrapping, as DataFusion's).
    SumInt,
    /// `SUM` of floats.
    SumFloat,
    /// `MIN` / `MAX` of integers (`true`: MAX).
    ExtremeInt(bool),
    /// `MIN` / `MAX` of floats (`true`: MAX).
    ExtremeFloat(bool),
    /// `AVG` of floats (integers are cast to floats before, as DataFusion does).
    Avg,
}

impl Kind {
    /// The kind of aggregate `name` (DataFusion's function name) over a
    /// value of type `input`, if the fast path computes it.
    pub fn of(name: &str, input: &DataType) -> Option<Kind> {
        let int = matches!(input, DataType::Int64);
        let float = matches!(input, DataType::Float64);
        match name {
            "count" => Some(Kind::Count),
            "sum" if int => Some(Kind::SumInt),
            "sum" if float => Some(Kind::SumFloat),
            "min" | "max" if int => Some(Kind::ExtremeInt(name == "max")),
            "min" | "max" if float => Some(Kind::ExtremeFloat(name == "max")),
            "avg" | "mean" if float => Some(Kind::Avg),
            _ => None,
        }
    }
}

/// One aggregate of the fast path: its kind and its argument.
pub struct ColumnarAggregate {
    /// What it computes.
    pub kind: Kind,
    /// Its argument, over the aggregated rows.
    pub argument: Arc<dyn PhysicalExpr>,
}

/// What the planner gives the operator.
pub struct ColumnarPlan {
    /// Input rows -> the aggregated rows.
    pub input: EmissionPlan,
    /// The grouping expressions, over those rows.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// The aggregates.
    pub aggregates: Vec<ColumnarAggregate>,
    /// The output: the keys, then one column per aggregate.
    pub schema: SchemaRef,
    /// One line for EXPLAIN.
    pub description: String,
}

/// One aggregate's state, a column per group.
enum State {
    Count(Vec<i64>),
    SumInt {
        sum: Vec<i64>,
        n: Vec<i64>,
    },
    SumFloat {
        sum: Vec<f64>,
        n: Vec<i64>,
    },
    ExtremeInt {
        value: Vec<i64>,
        n: Vec<i64>,
        max: bool,
    },
    ExtremeFloat {
        value: Vec<f64>,
        n: Vec<i64>,
        max: bool,
    },
    Avg {
        sum: Vec<f64>,
        n: Vec<i64>,
    },
}

impl State {
    fn new(kind: Kind) -> State {
        match kind {
            Kind::Count => State::Count(Vec::new()),
            Kind::SumInt => State::SumInt {
                sum: Vec::new(),
                n: Vec::new(),
            },
            Kind::SumFloat => State::SumFloat {
                sum: Vec::new(),
                n: Vec::new(),
            },
            Kind::ExtremeInt(max) => State::ExtremeInt {
                value: Vec::new(),
                n: Vec::new(),
                max,
            },
            Kind::ExtremeFloat(max) => State::ExtremeFloat {
                value: Vec::new(),
                n: Vec::new(),
                max,
            },
            Kind::Avg => State::Avg {
                sum: Vec::new(),
                n: Vec::new(),
            },
        }
    }

    /// Room for group `groups - 1`.
    fn grow(&mut self, groups: usize) {
        match self {
            State::Count(n) => n.resize(groups, 0),
            State::SumInt { sum, n } => {
                sum.resize(groups, 0);
                n.resize(groups, 0);
            }
            State::SumFloat { sum, n } | State::Avg { sum, n } => {
                sum.resize(groups, 0.0);
                n.resize(groups, 0);
            }
            State::ExtremeInt { value, n, .. } => {
                value.resize(groups, 0);
                n.resize(groups, 0);
            }
            State::ExtremeFloat { value, n, .. } => {
                value.resize(groups, 0.0);
                n.resize(groups, 0);
            }
        }
    }

    /// Takes row `i` of `values` into group `groups[i]`, for every row.
    fn update(&mut self, values: &ArrayRef, groups: &[u32]) -> Result<()> {
        let present = |i: usize| values.is_valid(i);
        match self {
            State::Count(n) => {
                for (i, &g) in groups.iter().enumerate() {
                    n[g as usize] += i64::from(present(i));
                }
            }
            State::SumInt { sum, n } => {
                let values = values
                    .as_primitive_opt::<Int64Type>()
                    .ok_or_else(type_changed)?;
                for (i, &g) in groups.iter().enumerate() {
                    if present(i) {
                        let g = g as usize;
                        sum[g] = sum[g].wrapping_add(values.value(i));
                        n[g] += 1;
                    }
                }
            }
            State::SumFloat { sum, n } | State::Avg { sum, n } => {
                let values = values
                    .as_primitive_opt::<Float64Type>()
                    .ok_or_else(type_changed)?;
                for (i, &g) in groups.iter().enumerate() {
                    if present(i) {
                        let g = g as usize;
                        sum[g] += values.value(i);
                        n[g] += 1;
                    }
                }
            }
            State::ExtremeInt { value, n, max } => {
                let values = values
                    .as_primitive_opt::<Int64Type>()
                    .ok_or_else(type_changed)?;
                for (i, &g) in groups.iter().enumerate() {
                    if present(i) {
                        let (g, v) = (g as usize, values.value(i));
                        if n[g] == 0 || (*max && v > value[g]) || (!*max && v < value[g]) {
                            value[g] = v;
                        }
                        n[g] += 1;
                    }
                }
            }
            State::ExtremeFloat { value, n, max } => {
                let values = values
                    .as_primitive_opt::<Float64Type>()
                    .ok_or_else(type_changed)?;
                for (i, &g) in groups.iter().enumerate() {
                    if present(i) {
                        let (g, v) = (g as usize, values.value(i));
                        let better = match *max {
                            true => v.total_cmp(&value[g]).is_gt(),
                            false => v.total_cmp(&value[g]).is_lt(),
                        };
                        if n[g] == 0 || better {
                            value[g] = v;
                        }
                        n[g] += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// The values of `groups`, as an array.
    fn values(&self, groups: &[u32]) -> ArrayRef {
        let at = |g: &u32| *g as usize;
        match self {
            State::Count(n) => Arc::new(Int64Array::from_iter_values(
                groups.iter().map(|g| n[at(g)]),
            )),
            State::SumInt { sum, n } | State::ExtremeInt { value: sum, n, .. } => Arc::new(
                Int64Array::from_iter(groups.iter().map(|g| (n[at(g)] > 0).then(|| sum[at(g)]))),
            ),
            State::SumFloat { sum, n } | State::ExtremeFloat { value: sum, n, .. } => Arc::new(
                Float64Array::from_iter(groups.iter().map(|g| (n[at(g)] > 0).then(|| sum[at(g)]))),
            ),
            State::Avg { sum, n } => Arc::new(Float64Array::from_iter(
                groups
                    .iter()
                    .map(|g| (n[at(g)] > 0).then(|| sum[at(g)] / n[at(g)] as f64)),
            )),
        }
    }

    /// The state of every group, as columns (for a checkpoint).
    fn columns(&self) -> Vec<ArrayRef> {
        let ints = |v: &Vec<i64>| Arc::new(Int64Array::from(v.clone())) as ArrayRef;
        let floats = |v: &Vec<f64>| Arc::new(Float64Array::from(v.clone())) as ArrayRef;
        match self {
            State::Count(n) => vec![ints(n)],
            State::SumInt { sum, n } | State::ExtremeInt { value: sum, n, .. } => {
                vec![ints(sum), ints(n)]
            }
            State::SumFloat { sum, n }
            | State::ExtremeFloat { value: sum, n, .. }
            | State::Avg { sum, n } => vec![floats(sum), ints(n)],
        }
    }

    /// Takes back [`State::columns`].
    fn restore(&mut self, columns: &[ArrayRef]) -> Option<()> {
        let ints = |c: &ArrayRef| Some(c.as_primitive_opt::<Int64Type>()?.values().to_vec());
        let floats = |c: &ArrayRef| Some(c.as_primitive_opt::<Float64Type>()?.values().to_vec());
        match (self, columns) {
            (State::Count(n), [c]) => *n = ints(c)?,
            (State::SumInt { sum, n } | State::ExtremeInt { value: sum, n, .. }, [s, c]) => {
                *sum = ints(s)?;
                *n = ints(c)?;
            }
            (
                State::SumFloat { sum, n }
                | State::ExtremeFloat { value: sum, n, .. }
                | State::Avg { sum, n },
                [s, c],
            ) => {
                *sum = floats(s)?;
                *n = ints(c)?;
            }
            _ => return None,
        }
        Some(())
    }

    fn width(&self) -> usize {
        match self {
            State::Count(_) => 8,
            _ => 16,
        }
    }
}

fn type_changed() -> Error {
    Error::Internal("an aggregate's argument changed type between batches".into())
}

/// Keeps every group's aggregates as typed columns and emits the changes.
pub struct ColumnarAggregateOperator {
    plan: ColumnarPlan,
    converter: RowConverter,
    /// Key bytes -> group number.
    index: HashMap<Box<[u8]>, u32>,
    /// Group number -> key bytes.
    keys: Vec<Box<[u8]>>,
    states: Vec<State>,
    /// Per group, the batch that last touched it (to list each once).
    touched_in: Vec<u64>,
    batch_number: u64,
    key_bytes: usize,
}

impl ColumnarAggregateOperator {
    /// The operator for `plan`.
    pub fn try_new(plan: ColumnarPlan) -> Result<Self> {
        let converter = RowConverter::new(
            plan.schema.fields()[..plan.keys.len()]
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )
        .map_err(|e| {
            Error::query(format!(
                "an unbounded GROUP BY cannot group by these columns: {e}"
            ))
        })?;
        let states = plan.aggregates.iter().map(|a| State::new(a.kind)).collect();
        Ok(ColumnarAggregateOperator {
            plan,
            converter,
            index: HashMap::default(),
            keys: Vec::new(),
            states,
            touched_in: Vec::new(),
            batch_number: 0,
            key_bytes: 0,
        })
    }

    /// Group numbers of `batch`'s rows (new groups made), and the groups
    /// touched, each once, in order of first touch.
    fn group(&mut self, batch: &RecordBatch) -> Result<(Vec<u32>, Vec<u32>)> {
        let n = batch.num_rows();
        let key_columns = self
            .plan
            .keys
            .iter()
            .map(|k| Ok(k.evaluate(batch)?.into_array(n)?))
            .collect::<Result<Vec<_>>>()?;
        let rows = match key_columns.is_empty() {
            true => None,
            false => Some(self.converter.convert_columns(&key_columns)?),
        };
        self.batch_number += 1;
        let mut ids = Vec::with_capacity(n);
        let mut touched = Vec::new();
        for i in 0..n {
            let key = rows.as_ref().map_or(&[][..], |r| r.row(i).data());
            let id = match self.index.get(key) {
                Some(&id) => id,
                None => {
                    let id = self.keys.len() as u32;
                    self.index.insert(key.into(), id);
                    self.keys.push(key.into());
                    self.key_bytes += key.len();
                    self.touched_in.push(0);
                    id
                }
            };
            if self.touched_in[id as usize] != self.batch_number {
                self.touched_in[id as usize] = self.batch_number;
                touched.push(id);
            }
            ids.push(id);
        }
        let groups = self.keys.len();
        for state in &mut self.states {
            state.grow(groups);
        }
        Ok((ids, touched))
    }

    /// The key columns of `groups`.
    fn key_columns(&self, groups: &[u32]) -> Result<Vec<ArrayRef>> {
        if self.plan.keys.is_empty() {
            return Ok(Vec::new());
        }
        let parser = self.converter.parser();
        Ok(self
            .converter
            .convert_rows(groups.iter().map(|g| parser.parse(&self.keys[*g as usize])))?)
    }

    /// The aggregate columns of `groups`: their current values, in the
    /// output's types.
    fn value_columns(&self, groups: &[u32]) -> Result<Vec<ArrayRef>> {
        let fields = &self.plan.schema.fields()[self.plan.keys.len()..];
        self.states
            .iter()
            .zip(fields)
            .map(|(state, field)| cast_to(state.values(groups), field.data_type()))
            .collect()
    }

    /// Takes in `batch` and returns its changes.
    fn take_in(&mut self, batch: &RecordBatch) -> Result<Option<RecordBatch>> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(None);
        }
        let first_new = self.keys.len() as u32;
        let (ids, touched) = self.group(batch)?;
        let (old, new): (Vec<u32>, Vec<u32>) = touched.iter().partition(|&&g| g < first_new);
        let before = self.value_columns(&old)?;
        for (state, aggregate) in self.states.iter_mut().zip(&self.plan.aggregates) {
            let values = aggregate.argument.evaluate(batch)?.into_array(n)?;
            state.update(&values, &ids)?;
        }
        let after = self.value_columns(&old)?;
        // The old groups whose values changed (NULLs compared as values).
        let mut changed = BooleanArray::from(vec![false; old.len()]);
        for (b, a) in before.iter().zip(&after) {
            changed = or(&changed, &distinct(b, a)?)?;
        }
        let changed_groups: Vec<u32> = old
            .iter()
            .zip(changed.values().iter())
            .filter_map(|(g, c)| c.then_some(*g))
            .collect();
        let count = changed_groups.len();
        if count == 0 && new.is_empty() {
            return Ok(None);
        }
        // -U old values, +I new keys, +U new values; the changed keys once.
        let changed_keys = self.key_columns(&changed_groups)?;
        let new_keys = self.key_columns(&new)?;
        let new_values = self.value_columns(&new)?;
        let retracted = filter_columns(&before, &changed)?;
        let updated = filter_columns(&after, &changed)?;
        let width = self.plan.keys.len();
        let columns = (0..self.plan.schema.fields().len())
            .map(|c| {
                let parts: [&dyn Array; 3] = match c < width {
                    true => [&changed_keys[c], &new_keys[c], &changed_keys[c]],
                    false => [
                        &retracted[c - width],
                        &new_values[c - width],
                        &updated[c - width],
                    ],
                };
                Ok(datafusion::arrow::compute::concat(&parts)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut kinds = vec![RowKind::UpdateBefore; count];
        kinds.extend(std::iter::repeat_n(RowKind::Insert, new.len()));
        kinds.extend(std::iter::repeat_n(RowKind::UpdateAfter, count));
        let data = RecordBatch::try_new(Arc::clone(&self.plan.schema), columns)?;
        Ok(Some(changelog::with_kinds(&data, &kinds)?))
    }
}

fn filter_columns(columns: &[ArrayRef], keep: &BooleanArray) -> Result<Vec<ArrayRef>> {
    columns
        .iter()
        .map(|c| Ok(datafusion::arrow::compute::filter(c, keep)?))
        .collect()
}

#[async_trait::async_trait]
impl Operator for ColumnarAggregateOperator {
    fn name(&self) -> &'static str {
        "columnar_aggregate"
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
        let per_group: usize = 48 + self.states.iter().map(State::width).sum::<usize>();
        self.key_bytes + self.keys.len() * per_group
    }

    async fn process_batch(&mut self, batch: RecordBatch) -> Result<Output> {
        if batch.num_rows() == 0 {
            return Ok(Output::default());
        }
        let mut out = Vec::new();
        for rows in self.plan.input.run(vec![batch]).await? {
            out.extend(self.take_in(&rows)?);
        }
        Ok(Output::batches(out))
    }

    async fn snapshot(&mut self) -> Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        if self.keys.is_empty() {
            return Ok(snapshot);
        }
        let mut columns: Vec<(String, ArrayRef)> = vec![(
            "key".into(),
            Arc::new(BinaryArray::from_iter_values(self.keys.iter())),
        )];
        for (i, state) in self.states.iter().enumerate() {
            for (j, column) in state.columns().into_iter().enumerate() {
                columns.push((format!("state{i}_{j}"), column));
            }
        }
        snapshot.set_columns("groups", columns)?;
        Ok(snapshot)
    }

    fn restore(&mut self, mut snapshot: Snapshot) -> Result<()> {
        let bad = || {
            Error::query(
                "the checkpoint's GROUP BY state is not readable; it was taken by a \
                 different query",
            )
        };
        let batches = snapshot.take_table("groups");
        let batch = match batches.as_slice() {
            [] => return snapshot.expect_consumed("GROUP BY"),
            [one] => one.clone(),
            several => datafusion::arrow::compute::concat_batches(&several[0].schema(), several)?,
        };
        let keys = batch.column(0).as_binary_opt::<i32>().ok_or_else(bad)?;
        for (id, key) in keys.iter().enumerate() {
            let key: Box<[u8]> = key.ok_or_else(bad)?.into();
            self.key_bytes += key.len();
            self.index.insert(key.clone(), id as u32);
            self.keys.push(key);
            self.touched_in.push(0);
        }
        let mut column = 1;
        for state in &mut self.states {
            let width = state.columns().len();
            let columns = batch
                .columns()
                .get(column..column + width)
                .ok_or_else(bad)?;
            state.restore(columns).ok_or_else(bad)?;
            column += width;
        }
        if column != batch.num_columns() {
            return Err(bad());
        }
        snapshot.expect_consumed("GROUP BY")
    }
}
