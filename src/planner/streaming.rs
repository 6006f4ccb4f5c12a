//! Finds the stream in a query's plan, checks that the query can run on it,
//! and builds its operator pipeline.
//!
//! A query is streaming when it scans a table that declares a WATERMARK,
//! directly or through a window function. What can run on a stream:
//!
//! - filters, projections and scalar functions on the stream itself, run per
//!   batch as rows arrive;
//! - anything over a window function (TUMBLE, HOP, CUMULATE, SESSION),
//!   whose GROUP BY includes `window_start` and `window_end`; each window is
//!   computed once, when the watermark passes its end. The window may be
//!   read several times (joins of aggregates of one window, as Nexmark q5
//!   does): each emission's query runs over that window's rows.
//!
//! Everything else is refused here, before anything runs, with a message
//! saying what to write instead.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    col, Distinct, Expr, LogicalPlan, LogicalPlanBuilder, Projection, ScalarUDF,
};
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use super::current_watermark::{self, CurrentWatermarkUdf};
use super::window_table::WindowTable;
use crate::connectors::StreamTable;
use crate::error::{Error, Result};
use crate::metrics::StreamMetrics;
use crate::operators::distinct::{DistinctOperator, SeenRows};
use crate::operators::emission::{replace_scans, same_table, EmissionPlan};
use crate::operators::emission_source::{EmissionSourceExec, EmissionTable, Slot};
use crate::operators::per_batch::PerBatchOperator;
use crate::operators::session_window::SessionWindowOperator;
use crate::operators::sliced_window::{SlicedAggregate, SlicedWindowOperator};
use crate::operators::watermark::WatermarkOperator;
use crate::operators::window_aggregate::WindowAggregateOperator;
use crate::operators::Operator;
use crate::pipeline::{Chain, Pipeline};
use crate::window::{WindowKind, WINDOW_COLUMNS};

/// How a plan reads its stream.
enum StreamScan {
    /// The stream table itself.
    Direct(Arc<dyn TableProvider>),
    /// A window function over the stream table.
    Windowed(Arc<WindowTable>, Arc<dyn TableProvider>),
}

/// Whether to start reading the streams while planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sources {
    /// Open them: the pipeline is about to run.
    Open,
    /// Leave them unread: the pipeline is only described (EXPLAIN).
    Unopened,
}

/// True when `plan` reads a stream (without opening it).
pub fn reads_stream(plan: &LogicalPlan) -> Result<bool> {
    Ok(!stream_scans(plan)?.is_empty())
}

/// Builds the streaming pipeline for `plan`, or returns `None` when the plan
/// reads no stream (a batch query).
pub async fn plan_stream(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    sources: Sources,
) -> Result<Option<Pipeline>> {
    let mut scans = stream_scans(plan)?;
    if scans.is_empty() {
        return Ok(None);
    }
    let metrics = Arc::new(StreamMetrics::default());
    let bound;
    let plan = match bind_current_watermark(plan, &metrics)? {
        Some(rewritten) => {
            bound = rewritten;
            &bound
        }
        None => plan,
    };
    // SELECT DISTINCT / UNION over unwindowed streams: the rows per batch,
    // then each distinct row once. (Over a window it is part of the
    // window's emission.)
    let direct = scans.iter().all(|s| matches!(s, StreamScan::Direct(_)));
    let (plan, distinct) = match plan {
        LogicalPlan::Distinct(Distinct::All(input)) if direct => (input.as_ref(), true),
        other => (other, false),
    };
    let unified;
    let plan = if scans.len() > 1 && scans.iter().any(|s| matches!(s, StreamScan::Windowed(..))) {
        // The same window over the same stream, read more than once (a
        // self-join of windowed aggregates, as in Nexmark q5): one window
        // operator feeds every read, each emission holding one window's rows.
        unified = one_window_scan(plan, &scans)?;
        scans.truncate(1);
        &unified
    } else {
        plan
    };
    for scan in &scans {
        check_supported(plan, scan)?;
    }
    check_no_query_time(plan)?;
    check_no_stream_subqueries(plan)?;
    let mut chains = Vec::with_capacity(scans.len());
    match &scans[0] {
        StreamScan::Windowed(window, provider) => {
            let sliced = match window.spec.kind {
                WindowKind::Session { .. } => None,
                _ => sliced_aggregate(ctx, plan, provider).await?,
            };
            let operator: Box<dyn Operator> = match (sliced, &window.spec.kind) {
                (Some(aggregate), _) => Box::new(SlicedWindowOperator::new(
                    Arc::clone(&window.spec),
                    aggregate,
                    Arc::clone(&metrics),
                )?),
                (None, WindowKind::Session { .. }) => Box::new(SessionWindowOperator::new(
                    Arc::clone(&window.spec),
                    EmissionPlan::try_new(ctx, plan, std::slice::from_ref(provider)).await?,
                    Arc::clone(&metrics),
                )),
                (None, _) => Box::new(WindowAggregateOperator::new(
                    Arc::clone(&window.spec),
                    EmissionPlan::try_new(ctx, plan, std::slice::from_ref(provider)).await?,
                    Arc::clone(&metrics),
                )),
            };
            chains.push(chain(ctx, &window.source, vec![operator], &metrics, sources).await?);
        }
        StreamScan::Direct(_) => {
            // Filters and projections, per batch, on one stream or on a
            // UNION ALL of several: each batch fills its own stream's scan.
            let tables: Vec<Arc<dyn TableProvider>> = scans
                .iter()
                .map(|s| match s {
                    StreamScan::Direct(table) => Arc::clone(table),
                    StreamScan::Windowed(_, provider) => Arc::clone(provider),
                })
                .collect();
            let emission = Arc::new(EmissionPlan::try_new(ctx, plan, &tables).await?);
            let seen = SeenRows::default();
            for (i, table) in tables.iter().enumerate() {
                let mut operators: Vec<Box<dyn Operator>> =
                    vec![Box::new(PerBatchOperator::new(Arc::clone(&emission), i))];
                if distinct {
                    operators.push(Box::new(DistinctOperator::new(Arc::clone(&seen), i == 0)));
                }
                chains.push(chain(ctx, table, operators, &metrics, sources).await?);
            }
        }
    }
    let pool = Arc::clone(&ctx.runtime_env().memory_pool);
    Ok(Some(Pipeline::new(chains, metrics, &pool)))
}

/// The chain reading stream table `provider`: source, watermark, `after`.
async fn chain(
    ctx: &SessionContext,
    provider: &Arc<dyn TableProvider>,
    after: Vec<Box<dyn Operator>>,
    metrics: &Arc<StreamMetrics>,
    sources: Sources,
) -> Result<Chain> {
    let stream = StreamTable::of(provider.as_ref())
        .ok_or_else(|| Error::Internal("a stream scan without a stream".into()))?;
    let mut operators: Vec<Box<dyn Operator>> = Vec::new();
    match watermark_operator(ctx, &stream, provider, Arc::clone(metrics))? {
        Some(watermark) => operators.push(Box::new(watermark)),
        None if after.iter().any(|op| op.needs_watermark()) => {
            return Err(Error::query(format!(
                "windows over stream '{}' need event time: declare \
                 WATERMARK FOR <timestamp column> AS <column> - INTERVAL '5' SECOND",
                stream.name()
            )))
        }
        None => {}
    }
    operators.extend(after);
    Ok(Chain {
        description: stream.describe(),
        definition: stream.definition(),
        source: match sources {
            Sources::Open => Some(stream.open(ctx.state(), metrics).await?),
            Sources::Unopened => None,
        },
        operators,
    })
}

/// Every scan of a stream in `plan`.
fn stream_scans(plan: &LogicalPlan) -> Result<Vec<StreamScan>> {
    let mut scans = Vec::new();
    plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if let Ok(provider) = source_as_provider(&scan.source) {
                let any: &dyn std::any::Any = provider.as_ref();
                if let Some(window) = any.downcast_ref::<WindowTable>() {
                    if window.stream_source().is_some() {
                        let window = window_arc(&provider);
                        scans.push(StreamScan::Windowed(window, provider));
                    }
                } else if StreamTable::of(provider.as_ref()).is_some() {
                    scans.push(StreamScan::Direct(provider));
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(scans)
}

/// `plan` with every window function scan reading the first one's table,
/// when they all are the same window over the same stream; an error
/// otherwise.
fn one_window_scan(plan: &LogicalPlan, scans: &[StreamScan]) -> Result<LogicalPlan> {
    let StreamScan::Windowed(first, first_provider) = &scans[0] else {
        return Err(several_streams());
    };
    for scan in &scans[1..] {
        match scan {
            StreamScan::Windowed(window, _) if window.same_window(first) => {}
            _ => return Err(several_streams()),
        }
    }
    replace_scans(plan.clone(), |provider| {
        let any: &dyn std::any::Any = provider.as_ref();
        any.downcast_ref::<WindowTable>()
            .filter(|w| w.same_window(first))
            .map(|_| Arc::clone(first_provider))
    })
}

fn several_streams() -> Error {
    Error::query(
        "a query may window one stream, with one window (it may read that window \
         several times); to window several streams or with several windows, window \
         each in its own query",
    )
}

/// The `Arc<WindowTable>` behind a provider known to be one.
fn window_arc(provider: &Arc<dyn TableProvider>) -> Arc<WindowTable> {
    let any: Arc<dyn std::any::Any + Send + Sync> = Arc::clone(provider) as _;
    any.downcast::<WindowTable>().expect("a WindowTable")
}

/// Refuses what cannot run on a stream, saying what to do instead.
/// `plan` with its `CURRENT_WATERMARK(ts)` calls bound to this query's
/// counters, or `None` when it makes none.
fn bind_current_watermark(
    plan: &LogicalPlan,
    metrics: &Arc<StreamMetrics>,
) -> Result<Option<LogicalPlan>> {
    let udf = Arc::new(ScalarUDF::new_from_impl(CurrentWatermarkUdf::bound(
        Arc::clone(metrics),
    )));
    let rewritten = plan.clone().transform_up_with_subqueries(|node| {
        node.map_expressions(|expr| {
            expr.transform_up(|e| match e {
                Expr::ScalarFunction(f) if f.name() == current_watermark::NAME => {
                    Ok(Transformed::yes(Expr::ScalarFunction(
                        ScalarFunction::new_udf(Arc::clone(&udf), f.args),
                    )))
                }
                other => Ok(Transformed::no(other)),
            })
        })
    })?;
    Ok(rewritten.transformed.then_some(rewritten.data))
}

/// Refuses subqueries (IN, EXISTS, scalar) that read a stream: the planner
/// runs a query's own scans of its stream, and a subquery's would be left
/// to DataFusion, which cannot read a stream.
fn check_no_stream_subqueries(plan: &LogicalPlan) -> Result<()> {
    let mut found = false;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::Subquery(subquery) = node {
            if !stream_scans(&subquery.subquery)?.is_empty() {
                found = true;
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    if found {
        return Err(Error::query(
            "subqueries over a stream (IN, EXISTS, scalar subqueries) are not supported \
             yet; join within the window instead: JOIN ... ON a.window_start = b.window_start \
             AND a.window_end = b.window_end",
        ));
    }
    Ok(())
}

/// Functions DataFusion evaluates once, when a query is planned.
const QUERY_TIME_FUNCTIONS: &[&str] = &[
    "now",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtimestamp",
];

/// Refuses `now()` and its kin over a stream: DataFusion folds them into a
/// constant when the query is planned, so in a query that runs for hours
/// they would silently keep the start time.
fn check_no_query_time(plan: &LogicalPlan) -> Result<()> {
    let mut found: Option<String> = None;
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::ScalarFunction(f) = e {
                    if QUERY_TIME_FUNCTIONS.contains(&f.name()) {
                        found = Some(f.name().to_string());
                        return Ok(TreeNodeRecursion::Stop);
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    match found {
        Some(name) => Err(Error::query(format!(
            "{name}() in a query over a stream would be fixed at the moment the query \
             starts, not the time each row is processed; use the rows' event time (or \
             window_start / window_end) instead"
        ))),
        None => Ok(()),
    }
}

fn check_supported(plan: &LogicalPlan, scan: &StreamScan) -> Result<()> {
    let starts = names_of(plan, WINDOW_COLUMNS[0])?;
    let ends = names_of(plan, WINDOW_COLUMNS[1])?;
    let mut problem: Option<Error> = None;
    plan.apply(|node| {
        let found = match (node, scan) {
            (LogicalPlan::Join(_), StreamScan::Direct(_)) => Some(
                "joins with an unbounded stream are not supported yet; join within a \
                 window instead: both sides over TABLE(TUMBLE(...)) (or HOP, CUMULATE, \
                 SESSION), joined on window_start and window_end",
            ),
            (LogicalPlan::Distinct(_), StreamScan::Direct(_)) => Some(
                "SELECT DISTINCT and UNION over a stream are supported as the query's \
                 outermost operation (DISTINCT ON not yet); move them out of the subquery",
            ),
            (LogicalPlan::Window(_), _) => Some(
                "OVER (...) window functions are not supported on streams yet; \
                 use a window table function such as TUMBLE(...) with GROUP BY",
            ),
            (LogicalPlan::Aggregate(_), StreamScan::Direct(_)) => Some(
                "an unbounded GROUP BY needs a window: group by window_start, window_end of \
                 TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) (or HOP, CUMULATE, SESSION)",
            ),
            (LogicalPlan::Sort(_) | LogicalPlan::Limit(_), StreamScan::Direct(_)) => Some(
                "ORDER BY and LIMIT on an unbounded stream never finish; \
                 use them over a window function, where they apply to each emission",
            ),
            (LogicalPlan::Aggregate(aggregate), StreamScan::Windowed(..)) => {
                let grouped = |names: &[String]| {
                    aggregate
                        .group_expr
                        .iter()
                        .any(|e| matches!(e, Expr::Column(c) if names.contains(&c.name)))
                };
                if grouped(&starts) && grouped(&ends) {
                    None
                } else {
                    Some(
                        "a GROUP BY over a window function must include window_start and \
                         window_end, so that each window is computed once when it closes",
                    )
                }
            }
            _ => None,
        };
        if let Some(message) = found {
            problem = Some(Error::query(message));
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    problem.map_or(Ok(()), Err)
}

/// `column` and the names it is renamed to anywhere in `plan`
/// (`window_start AS starttime`).
fn names_of(plan: &LogicalPlan, column: &str) -> Result<Vec<String>> {
    let mut names = vec![column.to_string()];
    loop {
        let before = names.len();
        plan.apply(|node| {
            if let LogicalPlan::Projection(projection) = node {
                for expr in &projection.expr {
                    if let Expr::Alias(alias) = expr {
                        if matches!(alias.expr.as_ref(), Expr::Column(c) if names.contains(&c.name))
                            && !names.contains(&alias.name)
                        {
                            names.push(alias.name.clone());
                        }
                    }
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        if names.len() == before {
            return Ok(names);
        }
    }
}

/// The stream's watermark, as an operator; `None` when it has none.
fn watermark_operator(
    ctx: &SessionContext,
    stream: &StreamTable<'_>,
    provider: &Arc<dyn TableProvider>,
    metrics: Arc<StreamMetrics>,
) -> Result<Option<WatermarkOperator>> {
    let state = ctx.state();
    let schema = DFSchema::try_from(provider.schema().as_ref().clone())?;
    let Some(watermark) = stream.watermark(&state, &schema)? else {
        return Ok(None);
    };
    let time_index = provider.schema().index_of(&watermark.column)?;
    let physical = state.create_physical_expr(watermark.expr, &schema)?;
    Ok(Some(WatermarkOperator::new(
        physical,
        watermark.text,
        time_index,
        metrics,
    )))
}

/// Splits a windowed aggregation into a partial aggregate per slice and a
/// final aggregate per window, when the query allows it: one aggregation
/// over the window function, grouped by plain `window_start` and
/// `window_end` columns, with the window columns used nowhere else. Returns
/// `None` otherwise (the window operator then aggregates each window's rows
/// when it closes).
async fn sliced_aggregate(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    provider: &Arc<dyn TableProvider>,
) -> Result<Option<SlicedAggregate>> {
    let mut aggregates = Vec::new();
    plan.apply(|node| {
        if let LogicalPlan::Aggregate(aggregate) = node {
            aggregates.push(aggregate.clone());
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    let [aggregate] = aggregates.as_slice() else {
        return Ok(None);
    };
    if !sliceable(aggregate)? {
        return Ok(None);
    }

    // One partition and no physical optimizer: the aggregate is planned as
    // Final over Partial, which is the split slicing needs.
    let mut config = ctx.state().config().clone().with_target_partitions(1);
    // The new state shares the catalogs; it must not install fresh ones.
    config
        .options_mut()
        .catalog
        .create_default_catalog_and_schema = false;
    let state = SessionStateBuilder::new_from_existing(ctx.state())
        .with_config(config)
        .with_physical_optimizer_rules(vec![])
        .build();
    let input_slot = Slot::default();
    let input: Arc<dyn TableProvider> = Arc::new(EmissionTable::new(
        provider.schema(),
        Arc::clone(&input_slot),
    ));
    let aggregate_plan = replace_scans(LogicalPlan::Aggregate(aggregate.clone()), |p| {
        same_table(p, provider).then(|| Arc::clone(&input))
    })?;
    let physical = state.create_physical_plan(&aggregate_plan).await?;
    let final_exec = {
        let any: &dyn std::any::Any = physical.as_ref();
        match any.downcast_ref::<AggregateExec>() {
            Some(exec) if *exec.mode() == AggregateMode::Final => exec,
            _ => return Ok(None),
        }
    };
    let partial = Arc::clone(final_exec.children()[0]);
    let states_slot = Slot::default();
    let final_aggregate = replace_children_if_necessary(
        Arc::clone(&physical),
        vec![Arc::new(EmissionSourceExec::new(
            partial.schema(),
            Arc::clone(&states_slot),
        ))],
    )?;
    let groups = final_exec.group_expr().expr().len();
    let position = |name: &str| partial.schema().index_of(name).ok().filter(|i| *i < groups);
    let window_columns = [
        position(WINDOW_COLUMNS[0]),
        position(WINDOW_COLUMNS[1]),
        position(WINDOW_COLUMNS[2]),
    ];
    if window_columns[0].is_none() || window_columns[1].is_none() {
        return Ok(None);
    }

    // The rest of the query reads the aggregated rows from a table standing
    // in for the Aggregate node, under the Aggregate's own column names.
    let output = aggregate.schema.as_ref();
    let flat = Arc::new(Schema::new(
        output
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| Field::new(format!("c{i}"), f.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let aggregated: Arc<dyn TableProvider> =
        Arc::new(EmissionTable::new(Arc::clone(&flat), Slot::default()));
    let stand_in = {
        let scan = LogicalPlanBuilder::scan(
            "__aggregated",
            provider_as_source(Arc::clone(&aggregated)),
            None,
        )?
        .build()?;
        let exprs = output
            .iter()
            .enumerate()
            .map(|(i, (qualifier, field))| {
                col(Column::new(Some("__aggregated"), format!("c{i}")))
                    .alias_qualified(qualifier.cloned(), field.name())
            })
            .collect::<Vec<_>>();
        LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(scan))?)
    };
    let target = LogicalPlan::Aggregate(aggregate.clone());
    let rest_plan = plan
        .clone()
        .transform_up(|node| {
            if node == target {
                Ok(Transformed::yes(stand_in.clone()))
            } else {
                Ok(Transformed::no(node))
            }
        })?
        .data;
    if reads_stream(&rest_plan)? {
        // The window is also read outside the aggregate (its rows joined
        // with its aggregate, as in Nexmark q7): each window's rows are needed.
        return Ok(None);
    }
    let rest = EmissionPlan::try_new(ctx, &rest_plan, &[aggregated]).await?;
    Ok(Some(SlicedAggregate {
        input_slot,
        partial,
        states_slot,
        final_aggregate,
        rest,
        rest_schema: flat,
        window_columns,
        task: ctx.task_ctx(),
    }))
}

/// True when the window columns are only grouped on, as plain columns.
fn sliceable(aggregate: &datafusion::logical_expr::Aggregate) -> Result<bool> {
    let is_window_column =
        |e: &Expr| matches!(e, Expr::Column(c) if WINDOW_COLUMNS.contains(&c.name.as_str()));
    let uses_window = |e: &Expr| {
        e.column_refs()
            .iter()
            .any(|c| WINDOW_COLUMNS.contains(&c.name.as_str()))
    };
    if aggregate
        .group_expr
        .iter()
        .any(|e| matches!(e, Expr::GroupingSet(_)) || (!is_window_column(e) && uses_window(e)))
        || aggregate.aggr_expr.iter().any(uses_window)
    {
        return Ok(false);
    }
    // Below the aggregate, window columns may only be passed through.
    let mut passes_through = true;
    aggregate.input.apply(|node| {
        node.apply_expressions(|e| {
            if !is_window_column(e) && uses_window(e) {
                passes_through = false;
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(passes_through)
}
