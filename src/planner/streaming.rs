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
//!   does): each emission's query runs over that window's rows;
//! - a GROUP BY without a window (`group_by.rs`): an updating result, a
//!   changelog whose rows start with `op` (see [`crate::changelog`]).
//!
//! Everything else is refused before anything runs (`checks.rs`),
//! with a message saying what to write instead.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::DFSchema;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{Distinct, Expr, LogicalPlan, ScalarUDF};
use datafusion::prelude::SessionContext;

use super::checks::{
    check_no_query_time, check_no_stream_subqueries, check_supported, check_window_joins,
};
use super::current_watermark::{self, CurrentWatermarkUdf};
use super::lookup::split_at_lookup;
use super::processing_time;
pub use super::scans::reads_stream;
use super::scans::{
    event_time_column, has_stateful, one_window, one_window_scan, stream_scans, StreamScan,
};
use super::slicing::sliced_aggregate;
use super::stream_join::{split_at_stream_join, StreamJoinSplit};
use super::updating::updating_operators;
use super::window_table::WindowTable;
use crate::changelog::ChangelogMode;
use crate::connectors::StreamTable;
use crate::error::{Error, Result};
use crate::metrics::StreamMetrics;
use crate::operators::distinct::{DistinctOperator, SeenRows};
use crate::operators::emission::{replace_scans, EmissionPlan};
use crate::operators::per_batch::PerBatchOperator;
use crate::operators::session_window::SessionWindowOperator;
use crate::operators::sliced_window::SlicedWindowOperator;
use crate::operators::watermark::WatermarkOperator;
use crate::operators::window_aggregate::WindowAggregateOperator;
use crate::operators::Operator;
use crate::pipeline::{Chain, Pipeline, Stage};
use crate::settings::TableSettings;
use crate::window::WindowKind;

/// Whether to start reading the streams while planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sources {
    /// Open them: the pipeline is about to run.
    Open,
    /// Leave them unread: the pipeline is only described (EXPLAIN).
    Unopened,
}

/// Builds the streaming pipeline for `plan`, or returns `None` when the plan
/// reads no stream (a batch query).
pub async fn plan_stream(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    sources: Sources,
) -> Result<Option<Pipeline>> {
    if stream_scans(plan)?.is_empty() {
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
    let roots = plan_stages(ctx, plan, &metrics, sources).await?;
    Ok(Some(pipeline(ctx, roots, metrics)))
}

/// The stages computing `plan`, whose results are the query's (several for
/// a UNION ALL of differently windowed queries).
async fn plan_stages(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    metrics: &Arc<StreamMetrics>,
    sources: Sources,
) -> Result<Vec<Stage>> {
    let mut scans = stream_scans(plan)?;
    if scans.is_empty() {
        return Err(Error::query(
            "each branch of a UNION ALL over streams must read a stream",
        ));
    }
    let direct = scans.iter().all(|s| matches!(s, StreamScan::Direct(_)));
    if let (LogicalPlan::Union(union), false) = (plan, direct) {
        if one_window(&scans).is_none() {
            // Each branch its own stages (two windows of different sizes
            // over one stream, or windows of different streams), their
            // results side by side.
            let mut roots = Vec::new();
            for branch in &union.inputs {
                roots.extend(Box::pin(plan_stages(ctx, branch, metrics, sources)).await?);
            }
            return Ok(roots);
        }
    }
    if direct && has_stateful(plan)? {
        // An unbounded GROUP BY or a Top-N: an updating result (or a
        // deduplication, append-only).
        let [StreamScan::Direct(stream)] = scans.as_slice() else {
            if let Some(split) = split_at_stream_join(ctx, plan)? {
                // Aggregated or ranked after a join of two streams (Nexmark
                // q4, q9): the join, then the stateful operators over its
                // rows.
                return Ok(vec![stream_join(ctx, plan, split, metrics, sources).await?]);
            }
            return Err(Error::query(
                "an unbounded GROUP BY or Top-N over several streams (a UNION ALL or a join of \
                 streams) is not supported yet; aggregate one stream",
            ));
        };
        check_no_query_time(plan)?;
        check_no_stream_subqueries(plan, false)?;
        if let Some(operators) = enriched_then_updating(ctx, plan, stream, metrics, sources).await?
        {
            let chains = vec![chain(ctx, stream, operators, metrics, sources).await?];
            return Ok(sources_of(chains));
        }
        let time_column = event_time_column(ctx, stream)?;
        if let Some(operators) = updating_operators(
            ctx,
            plan,
            stream,
            time_column.as_deref(),
            ChangelogMode::InsertOnly,
            metrics,
        )
        .await?
        {
            let chains = vec![chain(ctx, stream, operators, metrics, sources).await?];
            return Ok(sources_of(chains));
        }
    }
    // SELECT DISTINCT / UNION over unwindowed streams: the rows per batch,
    // then each distinct row once. (Over a window it is part of the
    // window's emission.)
    let (plan, distinct) = match plan {
        LogicalPlan::Distinct(Distinct::All(input)) if direct => (input.as_ref(), true),
        other => (other, false),
    };
    if direct && !distinct && scans.len() > 1 {
        if let Some(split) = split_at_stream_join(ctx, plan)? {
            // Two streams joined outside a window.
            return Ok(vec![stream_join(ctx, plan, split, metrics, sources).await?]);
        }
    }
    let all_windowed = scans.iter().all(|s| matches!(s, StreamScan::Windowed(..)));
    if !direct && !all_windowed {
        if let Some(split) = split_at_stream_join(ctx, plan)? {
            // A stream joined with windows (Nexmark q7: bids with each
            // window's highest price).
            return Ok(vec![stream_join(ctx, plan, split, metrics, sources).await?]);
        }
    }
    if scans.len() > 1 && all_windowed && one_window(&scans).is_none() {
        // Windows of several streams (a window join).
        return Ok(vec![
            window_join(ctx, plan, &scans, metrics, sources).await?,
        ]);
    }
    let unified;
    let plan = if scans.len() > 1 && !direct {
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
    check_window_joins(plan)?;
    check_no_query_time(plan)?;
    check_no_stream_subqueries(plan, !direct)?;
    match &scans[0] {
        StreamScan::Windowed(window, provider) => {
            let operators = window_operators(ctx, plan, window, provider, metrics).await?;
            let feeds = window_input(ctx, window, metrics).await?;
            Ok(vec![
                fed_stage(ctx, feeds, operators, metrics, sources).await?,
            ])
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
            if let ([table], false) = (tables.as_slice(), distinct) {
                let operators = per_batch_operators(ctx, plan, table, sources).await?;
                return Ok(sources_of(vec![
                    chain(ctx, table, operators, metrics, sources).await?,
                ]));
            }
            let emission = Arc::new(EmissionPlan::try_new(ctx, plan, &tables).await?);
            let seen = SeenRows::default();
            let mut chains = Vec::with_capacity(tables.len());
            for (i, table) in tables.iter().enumerate() {
                let mut operators: Vec<Box<dyn Operator>> =
                    vec![Box::new(PerBatchOperator::new(Arc::clone(&emission), i))];
                if distinct {
                    operators.push(Box::new(DistinctOperator::new(Arc::clone(&seen), i == 0)));
                }
                chains.push(chain(ctx, table, operators, metrics, sources).await?);
            }
            Ok(sources_of(chains))
        }
    }
}

/// The operators of a GROUP BY or Top-N over `stream` joined with bounded
/// tables (the enrichment, then the aggregate): the lookups per batch,
/// then the stateful operators over the joined rows; `None` when `plan`
/// joins no bounded table below its GROUP BY or Top-N. No event time
/// passes through the lookup to the stateful operators.
async fn enriched_then_updating(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    stream: &Arc<dyn TableProvider>,
    metrics: &Arc<StreamMetrics>,
    sources: Sources,
) -> Result<Option<Vec<Box<dyn Operator>>>> {
    let Some(split) = split_at_lookup(ctx, plan, sources == Sources::Open).await? else {
        return Ok(None);
    };
    if has_stateful(&split.probe)? || !has_stateful(&split.rest)? {
        return Ok(None);
    }
    let mut operators = Box::pin(per_batch_operators(ctx, &split.probe, stream, sources)).await?;
    operators.push(Box::new(split.operator));
    let mode = ChangelogMode::InsertOnly;
    match updating_operators(ctx, &split.rest, &split.joined, None, mode, metrics).await? {
        Some(updating) => {
            operators.extend(updating);
            Ok(Some(operators))
        }
        None => Ok(None),
    }
}

/// The operators running `plan` over each batch of `stream`: one per-batch
/// plan, or, at each join with a bounded table, the stream's side per
/// batch, the lookup, then the rest of the query over the joined rows.
async fn per_batch_operators(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    stream: &Arc<dyn TableProvider>,
    sources: Sources,
) -> Result<Vec<Box<dyn Operator>>> {
    let Some(split) = split_at_lookup(ctx, plan, sources == Sources::Open).await? else {
        let emission = EmissionPlan::try_new(ctx, plan, std::slice::from_ref(stream)).await?;
        return Ok(vec![Box::new(PerBatchOperator::new(Arc::new(emission), 0))]);
    };
    let mut operators = Box::pin(per_batch_operators(ctx, &split.probe, stream, sources)).await?;
    operators.push(Box::new(split.operator));
    let rest = EmissionPlan::try_new(ctx, &split.rest, &[split.joined]).await?;
    operators.push(Box::new(PerBatchOperator::new(Arc::new(rest), 0)));
    Ok(operators)
}

/// The stage of a join of two streams (`split`, of `plan`): each side per
/// batch over its stream, the join, then the rest of the query per batch
/// over the joined rows.
async fn stream_join(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    split: StreamJoinSplit,
    metrics: &Arc<StreamMetrics>,
    sources: Sources,
) -> Result<Stage> {
    check_no_query_time(plan)?;
    check_no_stream_subqueries(plan, false)?;
    let StreamJoinSplit {
        sides,
        join,
        rest,
        joined,
    } = split;
    if !stream_scans(&rest)?.is_empty() {
        return Err(Error::query(
            "a join of two streams beside a third stream (in a UNION ALL) is not supported \
             yet; run the join in its own query",
        ));
    }
    let mut fed = Vec::with_capacity(2);
    let mut names = Vec::with_capacity(2);
    let mut changelog = [false, false];
    let timed = join.needs_watermark();
    for (at, (side, stream)) in sides.into_iter().enumerate() {
        let Some(stream) = stream else {
            // A side over windows, or aggregated without one: planned as
            // a query of its own, its rows each window's as it closes, or
            // the changelog of its updating result.
            let stages = Box::pin(plan_stages(ctx, &side, metrics, sources)).await?;
            if stages.len() != 1 {
                return Err(Error::query(
                    "a join of a stream with a UNION ALL of differently windowed queries is \
                     not supported yet; join each in its own query",
                ));
            }
            for scan in stream_scans(&side)? {
                names.push(match scan {
                    StreamScan::Windowed(window, _) => stream_name(&window.source)?,
                    StreamScan::Direct(stream) => stream_name(&stream)?,
                });
            }
            changelog[at] = stages[0].changelog_mode() == ChangelogMode::Updating;
            fed.push(stages);
            continue;
        };
        check_supported(&side, &StreamScan::Direct(Arc::clone(&stream)))?;
        let operators = per_batch_operators(ctx, &side, &stream, sources).await?;
        let feeds = vec![Feed { stream, operators }];
        fed.push(feed_stages(ctx, feeds, timed, &mut names, metrics, sources).await?);
    }
    let operator = join.build(changelog)?;
    let given = match changelog.contains(&true) {
        true => ChangelogMode::Updating,
        false => ChangelogMode::InsertOnly,
    };
    let mode = operator.changelog_mode(given);
    let mut operators: Vec<Box<dyn Operator>> = vec![operator];
    // A GROUP BY or Top-N over the joined rows (no event time passes
    // through a join: Flink's regular join output has none either).
    match updating_operators(ctx, &rest, &joined, None, mode, metrics).await? {
        Some(updating) => operators.extend(updating),
        None => {
            check_supported(&rest, &StreamScan::Direct(Arc::clone(&joined)))?;
            let rest = Arc::new(EmissionPlan::try_new(ctx, &rest, &[joined]).await?);
            operators.push(Box::new(match mode {
                ChangelogMode::InsertOnly => PerBatchOperator::new(rest, 0),
                ChangelogMode::Updating => PerBatchOperator::over_changelog(rest),
            }));
        }
    }
    Ok(Stage::fed(fed_chain(&names, "join of", operators), fed))
}

/// A window join: `plan` over windows of several streams, one side per
/// distinct window of `scans` (all of one kind and size), each emission
/// running the query over every side's rows of the windows that closed.
async fn window_join(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    scans: &[StreamScan],
    metrics: &Arc<StreamMetrics>,
    sources: Sources,
) -> Result<Stage> {
    let mut sides: Vec<(&Arc<WindowTable>, &Arc<dyn TableProvider>)> = Vec::new();
    for scan in scans {
        if let StreamScan::Windowed(window, provider) = scan {
            if !sides.iter().any(|(seen, _)| seen.same_window(window)) {
                sides.push((window, provider));
            }
        }
    }
    for (window, _) in &sides {
        if processing_time::is_on_processing_time(window) {
            return Err(Error::query(format!(
                "a window join on processing time (DESCRIPTOR of a PROCTIME() column, here \
                 over {}) is not supported yet; join windows on event time (a WATERMARK \
                 column), or aggregate each side in its own query",
                window.spec.source_name
            )));
        }
    }
    let first = &sides[0].0.spec;
    for (window, _) in &sides {
        let kind = &window.spec.kind;
        if matches!(kind, WindowKind::Session { .. }) || *kind != first.kind {
            return Err(Error::query(format!(
                "a window join needs the same window on every side, and not SESSION: \
                 here {} over {} and {} over {}; give both sides the same TUMBLE, HOP or \
                 CUMULATE, or aggregate each in its own query",
                first.kind.describe(),
                first.source_name,
                kind.describe(),
                window.spec.source_name
            )));
        }
    }
    // Every read of one window reads its side's rows.
    let plan = replace_scans(plan.clone(), |provider| {
        let any: &dyn std::any::Any = provider.as_ref();
        let window = any.downcast_ref::<WindowTable>()?;
        sides
            .iter()
            .find(|(side, _)| side.same_window(window))
            .map(|(_, provider)| Arc::clone(provider))
    })?;
    for scan in scans {
        check_supported(&plan, scan)?;
    }
    check_window_joins(&plan)?;
    check_no_query_time(&plan)?;
    check_no_stream_subqueries(&plan, true)?;
    let providers: Vec<Arc<dyn TableProvider>> = sides.iter().map(|(_, p)| Arc::clone(p)).collect();
    let emission = EmissionPlan::try_new(ctx, &plan, &providers)
        .await
        .map_err(|e| match e.to_string().contains("null_aware anti join") {
            true => Error::query(
                "NOT IN correlated on the window is not supported (DataFusion plans it as a \
                 null-aware anti join of one column only); write NOT EXISTS (SELECT 1 FROM \
                 ... R WHERE R.x = L.x AND L.window_start = R.window_start AND L.window_end \
                 = R.window_end)",
            ),
            false => e,
        })?;
    let windows = sides.iter().map(|(w, _)| Arc::clone(&w.spec)).collect();
    let operator: Box<dyn Operator> = Box::new(WindowAggregateOperator::joining(
        windows,
        emission,
        Arc::clone(metrics),
    ));
    let mut fed = Vec::with_capacity(sides.len());
    let mut names = Vec::new();
    for (window, _) in &sides {
        let feeds = window_input(ctx, window, metrics).await?;
        fed.push(feed_stages(ctx, feeds, true, &mut names, metrics, sources).await?);
    }
    Ok(Stage::fed(
        fed_chain(&names, "window join", vec![operator]),
        fed,
    ))
}

/// Where a window's input rows come from: a stream, and the operators
/// making them from its rows (none for a window over the stream table).
struct Feed {
    stream: Arc<dyn TableProvider>,
    operators: Vec<Box<dyn Operator>>,
}

/// The stage running `window` (its operators) over the rows of `feeds`: on the one
/// stream's own chain, or fed by one chain per stream (a window over a
/// UNION ALL of streams), its watermark the least of theirs.
async fn fed_stage(
    ctx: &SessionContext,
    mut feeds: Vec<Feed>,
    window: Vec<Box<dyn Operator>>,
    metrics: &Arc<StreamMetrics>,
    sources: Sources,
) -> Result<Stage> {
    if feeds.len() == 1 {
        let Feed {
            stream,
            mut operators,
        } = feeds.remove(0);
        operators.extend(window);
        return Ok(Stage::source(
            chain(ctx, &stream, operators, metrics, sources).await?,
        ));
    }
    let mut names = Vec::new();
    let timed = needs_event_time(&window);
    let stages = feed_stages(ctx, feeds, timed, &mut names, metrics, sources).await?;
    Ok(Stage::fed(
        fed_chain(&names, "union of", window),
        vec![stages],
    ))
}

/// One source stage per feed (each stream with its operators), the
/// streams' names added to `names`; with `timed`, each stream must have a
/// WATERMARK.
async fn feed_stages(
    ctx: &SessionContext,
    feeds: Vec<Feed>,
    timed: bool,
    names: &mut Vec<String>,
    metrics: &Arc<StreamMetrics>,
    sources: Sources,
) -> Result<Vec<Stage>> {
    let mut stages = Vec::with_capacity(feeds.len());
    for feed in feeds {
        if timed {
            require_event_time(ctx, &feed.stream)?;
        }
        names.push(stream_name(&feed.stream)?);
        stages.push(Stage::source(
            chain(ctx, &feed.stream, feed.operators, metrics, sources).await?,
        ));
    }
    Ok(stages)
}

/// The chain of a stage fed by the streams `names`, running `operators`.
fn fed_chain(names: &[String], what: &str, operators: Vec<Box<dyn Operator>>) -> Chain {
    let joined = names.join("+");
    Chain {
        description: format!("{what} {}", names.join(", ")),
        definition: String::new(),
        source: None,
        operator_ids: operators
            .iter()
            .map(|op| format!("{joined}/{}", op.name()))
            .collect(),
        operators,
        source_id: String::new(),
    }
}

/// The name of stream table `provider`.
fn stream_name(provider: &Arc<dyn TableProvider>) -> Result<String> {
    StreamTable::of(provider.as_ref())
        .map(|s| s.name().to_string())
        .ok_or_else(|| Error::Internal("a stream scan without a stream".into()))
}

/// Refuses a stream without a WATERMARK under a window.
fn require_event_time(ctx: &SessionContext, provider: &Arc<dyn TableProvider>) -> Result<()> {
    match event_time_column(ctx, provider)? {
        Some(_) => Ok(()),
        None => Err(Error::query(format!(
            "windows over stream '{}' need event time: declare \
             WATERMARK FOR <timestamp column> AS <column> - INTERVAL '5' SECOND",
            stream_name(provider)?
        ))),
    }
}

/// The operators computing `plan` over the windows of `window` (scanned in
/// `plan` as `provider`): the window's, after a clock when it is on
/// processing time.
async fn window_operators(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    window: &Arc<WindowTable>,
    provider: &Arc<dyn TableProvider>,
    metrics: &Arc<StreamMetrics>,
) -> Result<Vec<Box<dyn Operator>>> {
    let mut operators: Vec<Box<dyn Operator>> = processing_time::clock(window, metrics)
        .into_iter()
        .collect();
    operators.push(window_operator(ctx, plan, window, provider, metrics).await?);
    Ok(operators)
}

/// True when `operators` need event time from their input: one needs a
/// watermark before any makes its own from the clock.
fn needs_event_time(operators: &[Box<dyn Operator>]) -> bool {
    operators
        .iter()
        .take_while(|op| !op.keeps_processing_time())
        .any(|op| op.needs_watermark())
}

/// The operator computing `plan` over the windows of `window` (scanned in
/// `plan` as `provider`): sliced for the aggregates that can be, otherwise
/// holding each window's rows.
async fn window_operator(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    window: &Arc<WindowTable>,
    provider: &Arc<dyn TableProvider>,
    metrics: &Arc<StreamMetrics>,
) -> Result<Box<dyn Operator>> {
    let sliced = match window.spec.kind {
        WindowKind::Session { .. } => None,
        _ => sliced_aggregate(ctx, plan, provider).await?,
    };
    Ok(match (sliced, &window.spec.kind) {
        (Some(aggregate), _) => Box::new(SlicedWindowOperator::new(
            Arc::clone(&window.spec),
            aggregate,
            Arc::clone(metrics),
        )?),
        (None, WindowKind::Session { .. }) => Box::new(SessionWindowOperator::new(
            Arc::clone(&window.spec),
            EmissionPlan::try_new(ctx, plan, std::slice::from_ref(provider)).await?,
            Arc::clone(metrics),
        )),
        (None, _) => Box::new(WindowAggregateOperator::new(
            Arc::clone(&window.spec),
            EmissionPlan::try_new(ctx, plan, std::slice::from_ref(provider)).await?,
            Arc::clone(metrics),
        )),
    })
}

/// Where the rows `window` windows come from: the streams it reads, each
/// with the operators making its input rows from the stream's. One stream
/// and no operators for a window over a stream table; for a window over a
/// view, the view's query: per batch (a filtered stream, or a UNION ALL of
/// streams, one feed each) or itself a window (cascading windows, the
/// inner window's rows emitted as it closes, before the watermark that
/// closed it reaches the outer one).
async fn window_input(
    ctx: &SessionContext,
    window: &WindowTable,
    metrics: &Arc<StreamMetrics>,
) -> Result<Vec<Feed>> {
    let Some(view) = window.view_plan() else {
        return Ok(vec![Feed {
            stream: Arc::clone(&window.source),
            operators: Vec::new(),
        }]);
    };
    let name = &window.spec.source_name;
    let mut scans = stream_scans(&view)?;
    check_no_query_time(&view)?;
    check_no_stream_subqueries(&view, false)?;
    let direct = scans.iter().all(|s| matches!(s, StreamScan::Direct(_)));
    let view = match scans.as_slice() {
        [_, _, ..] if scans.iter().all(|s| matches!(s, StreamScan::Windowed(..))) => {
            let unified = one_window_scan(&view, &scans)?;
            scans.truncate(1);
            unified
        }
        [_] => view,
        _ if direct => view,
        _ => {
            return Err(Error::query(format!(
                "a window over view '{name}', which reads streams both windowed and not, \
                 is not supported yet; window a view of streams, or of one window"
            )))
        }
    };
    for scan in &scans {
        check_supported(&view, scan).map_err(|e| {
            Error::query(format!(
                "view '{name}' cannot feed a window: {e} (a window needs rows that never \
                 change: filters, projections, a UNION ALL of streams or another window's \
                 result)"
            ))
        })?;
    }
    match &scans[0] {
        StreamScan::Direct(_) => {
            let streams: Vec<Arc<dyn TableProvider>> = scans
                .iter()
                .filter_map(|s| match s {
                    StreamScan::Direct(stream) => Some(Arc::clone(stream)),
                    StreamScan::Windowed(..) => None,
                })
                .collect();
            let emission = Arc::new(EmissionPlan::try_new(ctx, &view, &streams).await?);
            Ok(streams
                .into_iter()
                .enumerate()
                .map(|(i, stream)| Feed {
                    stream,
                    operators: vec![Box::new(PerBatchOperator::new(Arc::clone(&emission), i))],
                })
                .collect())
        }
        StreamScan::Windowed(inner, provider) => {
            let operators = window_operators(ctx, &view, inner, provider, metrics).await?;
            let mut feeds = Box::pin(window_input(ctx, inner, metrics)).await?;
            let [feed] = feeds.as_mut_slice() else {
                return Err(Error::query(format!(
                    "a window over view '{name}', a window over several streams, is not \
                     supported yet; window the streams' UNION ALL once"
                )));
            };
            feed.operators.extend(operators);
            Ok(feeds)
        }
    }
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
        None if needs_event_time(&after) => {
            return Err(Error::query(format!(
                "windows over stream '{}' need event time: declare \
                 WATERMARK FOR <timestamp column> AS <column> - INTERVAL '5' SECOND \
                 (or, to window on processing time, a column p AS PROCTIME() and \
                 DESCRIPTOR(p))",
                stream.name()
            )))
        }
        None => {}
    }
    operators.extend(after);
    let name = stream.name();
    Ok(Chain {
        description: stream.describe(),
        definition: stream.definition(),
        source: match sources {
            Sources::Open => Some(stream.open(ctx.state(), metrics).await?),
            Sources::Unopened => None,
        },
        operator_ids: operators
            .iter()
            .map(|op| format!("{name}/{}", op.name()))
            .collect(),
        source_id: format!("{name}/source"),
        operators,
    })
}

/// The pipeline of `roots`, with the session's idle-source timeout.
fn pipeline(ctx: &SessionContext, roots: Vec<Stage>, metrics: Arc<StreamMetrics>) -> Pipeline {
    let pool = Arc::clone(&ctx.runtime_env().memory_pool);
    let mut pipeline = Pipeline::new(roots, metrics, &pool);
    let options = ctx.state().config().options().clone();
    let idle = options
        .extensions
        .get::<TableSettings>()
        .and_then(TableSettings::idle_timeout);
    if let Some(timeout) = idle {
        pipeline.idle_timeout(timeout);
    }
    pipeline
}

/// Each chain a stage of its own, reading its source.
fn sources_of(chains: Vec<Chain>) -> Vec<Stage> {
    chains.into_iter().map(Stage::source).collect()
}

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
