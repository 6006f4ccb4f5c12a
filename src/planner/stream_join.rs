//! Joins of two streams outside a window: interval joins (the ON condition
//! bounds one side's event time by the other's), inner or outer; regular
//! joins, inner or outer (updating) ([`StreamJoinOperator`]); and temporal
//! joins with a versioned stream ([`TemporalJoinOperator`], checked by
//! `temporal_join.rs`). The query is split at the join: each side is
//! planned on its own (per batch over its stream), the rest of the query
//! reads the joined rows through a stand-in.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::Column;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Join, JoinType, LogicalPlan, Operator};
use datafusion::prelude::SessionContext;

use super::join_condition::{prepared, split_condition, JoinCondition};
use super::scans::{event_time_column, has_stateful, stream_scans, StreamScan};
use super::stand_in::{replace_node, stand_in};
use super::temporal_join::{temporal_keys, versioned_read};
use super::window_table::interval_millis;
use crate::connectors::StreamTable;
use crate::error::{Error, Result};
use crate::operators::stream_join::{Interval, StreamJoinOperator, StreamJoinSpec};
use crate::operators::temporal_join::{TemporalJoinOperator, TemporalJoinSpec};
use crate::operators::Operator as StreamOperator;
use crate::settings::TableSettings;

/// A query split at its topmost join of two streams.
pub(super) struct StreamJoinSplit {
    /// Each side's plan (left first), and the stream it reads when it
    /// reads one directly (filtered, projected); `None` for a side planned
    /// as a query of its own: over a window (a windowed aggregate's rows,
    /// as Nexmark q7 joins), or aggregated or ranked without one (an
    /// updating side).
    pub sides: [(LogicalPlan, Option<Arc<dyn TableProvider>>); 2],
    /// The join, built once the sides are planned and it is known which
    /// of them are updating.
    pub join: JoinSpec,
    /// The query with the join replaced by a scan of `joined`.
    pub rest: LogicalPlan,
    pub joined: Arc<dyn TableProvider>,
}

/// `plan` split at its topmost join whose two sides each read a stream,
/// directly or through a window, or `None` when it has none.
pub(super) fn split_at_stream_join(
    ctx: &SessionContext,
    plan: &LogicalPlan,
) -> Result<Option<StreamJoinSplit>> {
    let plan = prepared(ctx, plan)?;
    let mut found: Option<Join> = None;
    plan.apply(|node| {
        if let LogicalPlan::Join(join) = node {
            if !stream_scans(&join.left)?.is_empty() && !stream_scans(&join.right)?.is_empty() {
                found = Some(join.clone());
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    let Some(join) = found else {
        return Ok(None);
    };
    let stream = |side: &LogicalPlan| -> Result<Option<Arc<dyn TableProvider>>> {
        let scans = stream_scans(side)?;
        if has_stateful(side)? && scans.iter().all(|s| matches!(s, StreamScan::Direct(_))) {
            // A GROUP BY or Top-N of its own (updating), or a
            // deduplication or OVER aggregate (appended rows).
            return Ok(None);
        }
        match scans.as_slice() {
            [StreamScan::Direct(stream)] => Ok(Some(Arc::clone(stream))),
            _ if scans.iter().all(|s| matches!(s, StreamScan::Windowed(..))) => Ok(None),
            _ => Err(Error::query(
                "each side of a join of two streams must read one stream (filtered or \
                 projected) or windows; to join windows of both, join within the window \
                 (a window join)",
            )),
        }
    };
    let streams = [stream(&join.left)?, stream(&join.right)?];
    let windowed = |side: &LogicalPlan| -> Result<bool> {
        Ok(stream_scans(side)?
            .iter()
            .all(|s| matches!(s, StreamScan::Windowed(..))))
    };
    if windowed(&join.left)? && windowed(&join.right)? {
        // Windows on both sides: a window join, or refused as one.
        return Ok(None);
    }
    let scanned = |side: &LogicalPlan| -> Result<String> {
        let scans = stream_scans(side)?;
        let names: Vec<String> = scans
            .iter()
            .map(|scan| {
                let provider = match scan {
                    StreamScan::Direct(stream) => stream,
                    StreamScan::Windowed(window, _) => &window.source,
                };
                StreamTable::of(provider.as_ref())
                    .map_or_else(|| "?".to_string(), |t| t.name().to_string())
            })
            .collect();
        Ok(names.join("+"))
    };
    let names = [scanned(&join.left)?, scanned(&join.right)?];
    let outer = match join.join_type {
        JoinType::Inner => [false, false],
        JoinType::Left => [true, false],
        JoinType::Right => [false, true],
        JoinType::Full => [true, true],
        kind => {
            return Err(Error::query(format!(
                "a {kind} join of two streams is not supported; write INNER, LEFT, RIGHT or FULL"
            )))
        }
    };
    let JoinCondition { keys, residual } = split_condition(&join)?;
    if keys.is_empty() {
        return Err(Error::query(format!(
            "a join of streams '{}' and '{}' needs an equality of the two in ON (a.key = \
             b.key): rows are held and looked up by it",
            names[0], names[1]
        )));
    }
    let inputs = [join.left.as_ref(), join.right.as_ref()];
    // A windowed side has no event time: as in Flink, its window_start
    // and window_end are plain timestamps (the join is a regular one).
    let times = [
        time_column(ctx, streams[0].as_ref(), inputs[0])?,
        time_column(ctx, streams[1].as_ref(), inputs[1])?,
    ];
    if versioned_read(inputs[0])?.is_some() {
        return Err(Error::query(
            "the table read FOR SYSTEM_TIME AS OF is the right side of its join: write the \
             probe stream first (FROM s JOIN t FOR SYSTEM_TIME AS OF s.ts ON ...)",
        ));
    }
    let (kind, keys, residual) = match versioned_read(inputs[1])? {
        Some((_, as_of)) => {
            let primary_key = streams[1]
                .as_ref()
                .and_then(|t| StreamTable::of(t.as_ref()))
                .map_or_else(Vec::new, |t| t.primary_key());
            let found = temporal_keys(&names, &as_of, join.join_type, times, keys, &primary_key)?;
            let residual = [residual, found.residual].concat();
            (JoinKind::Temporal(found.times), found.keys, residual)
        }
        None => {
            let (interval, residual) = interval(times, inputs, residual);
            (JoinKind::Stream(interval), keys, residual)
        }
    };

    let state = ctx.state();
    let (left_keys, right_keys): (Vec<Expr>, Vec<Expr>) = keys.into_iter().unzip();
    let physical = |exprs: Vec<Expr>, input: &LogicalPlan| {
        exprs
            .into_iter()
            .map(|e| Ok(state.create_physical_expr(e, input.schema())?))
            .collect::<Result<Vec<_>>>()
    };
    let keys = [
        physical(left_keys, inputs[0])?,
        physical(right_keys, inputs[1])?,
    ];
    let residual = match residual.into_iter().reduce(Expr::and) {
        Some(expr) => Some(state.create_physical_expr(expr, &join.schema)?),
        None => None,
    };
    let stand_in = stand_in(&join.schema, "joined")?;
    let sides = inputs.map(|p| Arc::new(p.schema().as_arrow().clone()));
    let schema = Arc::clone(&stand_in.schema);
    let spec = match kind {
        JoinKind::Temporal(times) => JoinSpec::Temporal(TemporalJoinSpec {
            names,
            keys,
            residual,
            schema,
            sides,
            times,
            left_outer: outer[0],
        }),
        JoinKind::Stream(interval) => JoinSpec::Stream(StreamJoinSpec {
            names,
            keys,
            residual,
            schema,
            sides,
            outer,
            changelog: [false, false],
            interval,
            ttl: ctx
                .state()
                .config()
                .options()
                .extensions
                .get::<TableSettings>()
                .and_then(TableSettings::state_ttl),
        }),
    };
    let rest = replace_node(
        plan.clone(),
        &LogicalPlan::Join(join.clone()),
        &stand_in.plan,
    )?;
    let [left, right] = streams;
    Ok(Some(StreamJoinSplit {
        sides: [
            (join.left.as_ref().clone(), left),
            (join.right.as_ref().clone(), right),
        ],
        join: spec,
        rest,
        joined: stand_in.table,
    }))
}

/// A join of two streams, before it is known which sides are updating.
pub(super) enum JoinSpec {
    Temporal(TemporalJoinSpec),
    Stream(StreamJoinSpec),
}

impl JoinSpec {
    /// Whether the join needs its inputs' watermarks (to bound its state
    /// or to wait for a version).
    pub fn needs_watermark(&self) -> bool {
        match self {
            JoinSpec::Temporal(_) => true,
            JoinSpec::Stream(spec) => spec.interval.is_some(),
        }
    }

    /// The join's operator, given which sides are updating (their rows a
    /// changelog).
    pub fn build(self, changelog: [bool; 2]) -> Result<Box<dyn StreamOperator>> {
        match self {
            JoinSpec::Temporal(spec) => {
                if let Some(side) = changelog.iter().position(|c| *c) {
                    return Err(Error::query(format!(
                        "the {} side of the temporal join of '{}' and '{}' is updating (an \
                         unbounded GROUP BY or Top-N): a temporal join takes appended rows on \
                         both sides; aggregate in a window, or join without FOR SYSTEM_TIME AS OF",
                        ["left", "right"][side],
                        spec.names[0],
                        spec.names[1]
                    )));
                }
                Ok(Box::new(TemporalJoinOperator::new(spec)?))
            }
            JoinSpec::Stream(mut spec) => {
                // (An updating side has no event time: no time bounds.)
                spec.changelog = changelog;
                Ok(Box::new(StreamJoinOperator::new(spec)?))
            }
        }
    }
}

/// What a join of two streams is.
enum JoinKind {
    /// Each left row with the right side's version at its time (the
    /// times' columns on each side).
    Temporal([usize; 2]),
    /// Both sides' rows held, within time bounds for an interval join.
    Stream(Option<Interval>),
}

/// The time bounds the conjuncts `residual` put on the two sides' event
/// times `times`, if they bound them (an interval join), and the
/// conjuncts left to check on the joined rows.
fn interval(
    times: [Option<(Column, usize)>; 2],
    inputs: [&LogicalPlan; 2],
    residual: Vec<Expr>,
) -> (Option<Interval>, Vec<Expr>) {
    let mut residual = residual;
    let interval = match times {
        [Some(left), Some(right)] => {
            // The operator checks the bounds itself, exactly on millisecond
            // times: then those conjuncts need not run again.
            let in_millis = |side: &LogicalPlan, (_, index): &(Column, usize)| {
                matches!(
                    side.schema().field(*index).data_type(),
                    DataType::Timestamp(TimeUnit::Millisecond, _)
                )
            };
            let millis = in_millis(inputs[0], &left) && in_millis(inputs[1], &right);
            match bounds(&residual, [&left, &right], millis) {
                Some((lower, upper, consumed)) => {
                    if millis {
                        residual = residual
                            .into_iter()
                            .enumerate()
                            .filter(|(i, _)| !consumed.contains(i))
                            .map(|(_, e)| e)
                            .collect();
                    }
                    Some(Interval {
                        times: [left.1, right.1],
                        lower,
                        upper,
                    })
                }
                None => None,
            }
        }
        _ => None,
    };
    (interval, residual)
}

/// The event-time column of `stream` as `side` (a join's input) passes it
/// on, and its index there; `None` when the side drops or renames it, or
/// reads no stream directly.
fn time_column(
    ctx: &SessionContext,
    stream: Option<&Arc<dyn TableProvider>>,
    side: &LogicalPlan,
) -> Result<Option<(Column, usize)>> {
    let Some(stream) = stream else {
        return Ok(None);
    };
    let Some(name) = event_time_column(ctx, stream)? else {
        return Ok(None);
    };
    let schema = side.schema();
    let mut matching = schema
        .iter()
        .enumerate()
        .filter(|(_, (_, field))| field.name() == &name);
    Ok(match (matching.next(), matching.next()) {
        (Some((index, (qualifier, field))), None) => {
            Some((Column::new(qualifier.cloned(), field.name()), index))
        }
        _ => None,
    })
}

/// The bounds `lower <= right time - left time <= upper` (ms) the
/// conjuncts `residual` put on the two event times `times`, when they put
/// both, and which conjuncts say no more than that. On `millis` times a
/// strict `<` is `<=` one less; otherwise it is taken as `<=` (looser).
fn bounds(
    residual: &[Expr],
    times: [&(Column, usize); 2],
    millis: bool,
) -> Option<(i64, i64, Vec<usize>)> {
    let strict = i64::from(millis);
    let (mut lower, mut upper) = (None::<i64>, None::<i64>);
    let mut compare = |a: &Expr, op: Operator, b: &Expr| -> bool {
        let (Some((sa, oa)), Some((sb, ob))) = (time_term(a, times), time_term(b, times)) else {
            return false;
        };
        if sa == sb {
            return false;
        }
        // a op b  <=>  t_sa - t_sb op ob - oa; as d = right - left:
        let (op, c) = match sa {
            1 => (op, ob - oa),
            _ => match op.swap() {
                Some(flipped) => (flipped, oa - ob),
                None => return false,
            },
        };
        let (low, high) = match op {
            Operator::GtEq => (Some(c), None),
            Operator::Gt => (Some(c + strict), None),
            Operator::LtEq => (None, Some(c)),
            Operator::Lt => (None, Some(c - strict)),
            _ => return false,
        };
        if let Some(low) = low {
            lower = Some(lower.map_or(low, |l| l.max(low)));
        }
        if let Some(high) = high {
            upper = Some(upper.map_or(high, |u| u.min(high)));
        }
        true
    };
    let mut consumed = Vec::new();
    for (i, conjunct) in residual.iter().enumerate() {
        let said = match conjunct {
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) => compare(expr, Operator::GtEq, low) & compare(expr, Operator::LtEq, high),
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => compare(left, *op, right),
            _ => false,
        };
        if said {
            consumed.push(i);
        }
    }
    match (lower, upper) {
        // (lower > upper: no pair can match, and rows are dropped at once.)
        (Some(lower), Some(upper)) => Some((lower, upper, consumed)),
        _ => None,
    }
}

/// `expr` as one side's event time plus a constant (ms): which side, and
/// the offset.
fn time_term(expr: &Expr, times: [&(Column, usize); 2]) -> Option<(usize, i64)> {
    match expr {
        Expr::Column(c) => times.iter().position(|(t, _)| t == c).map(|side| (side, 0)),
        Expr::Cast(cast) => time_term(&cast.expr, times),
        Expr::TryCast(cast) => time_term(&cast.expr, times),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (side, offset) = time_term(left, times)?;
            let interval = interval_millis(Some(right.as_ref()))?;
            match op {
                Operator::Plus => Some((side, offset + interval)),
                Operator::Minus => Some((side, offset - interval)),
                _ => None,
            }
        }
        _ => None,
    }
}
