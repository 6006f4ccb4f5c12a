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
//!   computed once, when the watermark passes its end.
//!
//! Everything else is refused here, before anything runs, with a message
//! saying what to write instead.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::DFSchema;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::prelude::SessionContext;

use super::emission::EmissionPlan;
use super::metrics::StreamMetrics;
use super::pipeline::{Chain, Pipeline};
use super::window::{WindowKind, WINDOW_COLUMNS};
use super::window_table::WindowTable;
use crate::connectors::StreamTable;
use crate::error::{Error, Result};
use crate::operators::per_batch::PerBatchOperator;
use crate::operators::session_window::SessionWindowOperator;
use crate::operators::watermark::WatermarkOperator;
use crate::operators::window_aggregate::WindowAggregateOperator;
use crate::operators::Operator;

/// How a plan reads its stream.
enum StreamScan {
    /// The stream table itself.
    Direct(Arc<dyn TableProvider>),
    /// A window function over the stream table.
    Windowed(Arc<WindowTable>, Arc<dyn TableProvider>),
}

/// Builds the streaming pipeline for `plan`, or returns `None` when the plan
/// reads no stream (a batch query).
pub async fn plan_stream(ctx: &SessionContext, plan: &LogicalPlan) -> Result<Option<Pipeline>> {
    let scans = stream_scans(plan)?;
    if scans.is_empty() {
        return Ok(None);
    }
    if scans.len() > 1 && scans.iter().any(|s| matches!(s, StreamScan::Windowed(..))) {
        return Err(Error::query(
            "a window function reads one stream; to window several streams, window each \
             and UNION ALL the results in separate queries",
        ));
    }
    for scan in &scans {
        check_supported(plan, scan)?;
    }
    let metrics = Arc::new(StreamMetrics::default());
    let mut chains = Vec::with_capacity(scans.len());
    match &scans[0] {
        StreamScan::Windowed(window, provider) => {
            let emission = EmissionPlan::try_new(ctx, plan, std::slice::from_ref(provider)).await?;
            let operator: Box<dyn Operator> = match window.kind {
                WindowKind::Session { .. } => Box::new(SessionWindowOperator::new(
                    Arc::clone(window),
                    emission,
                    Arc::clone(&metrics),
                )),
                _ => Box::new(WindowAggregateOperator::new(
                    Arc::clone(window),
                    emission,
                    Arc::clone(&metrics),
                )),
            };
            chains.push(chain(ctx, &window.source, operator, &metrics).await?);
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
            for (i, table) in tables.iter().enumerate() {
                let operator = Box::new(PerBatchOperator::new(Arc::clone(&emission), i));
                chains.push(chain(ctx, table, operator, &metrics).await?);
            }
        }
    }
    Ok(Some(Pipeline::new(chains, metrics)))
}

/// The chain reading stream table `provider`: source, watermark, `operator`.
async fn chain(
    ctx: &SessionContext,
    provider: &Arc<dyn TableProvider>,
    operator: Box<dyn Operator>,
    metrics: &Arc<StreamMetrics>,
) -> Result<Chain> {
    let stream = StreamTable::of(provider.as_ref())
        .ok_or_else(|| Error::Internal("a stream scan without a stream".into()))?;
    let watermark = watermark_operator(ctx, &stream, provider, Arc::clone(metrics))?;
    Ok(Chain {
        description: stream.describe(),
        source: stream.open(ctx.state()).await?,
        operators: vec![Box::new(watermark), operator],
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

/// The `Arc<WindowTable>` behind a provider known to be one.
fn window_arc(provider: &Arc<dyn TableProvider>) -> Arc<WindowTable> {
    let any: Arc<dyn std::any::Any + Send + Sync> = Arc::clone(provider) as _;
    any.downcast::<WindowTable>().expect("a WindowTable")
}

/// Refuses what cannot run on a stream, saying what to do instead.
fn check_supported(plan: &LogicalPlan, scan: &StreamScan) -> Result<()> {
    let mut problem: Option<Error> = None;
    plan.apply(|node| {
        let found = match (node, scan) {
            (LogicalPlan::Join(_), _) => Some(
                "joins with a stream are not supported yet; \
                 join bounded tables, or aggregate the stream in windows first",
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
                let grouped = |name: &str| {
                    aggregate
                        .group_expr
                        .iter()
                        .any(|e| matches!(e, Expr::Column(c) if c.name == name))
                };
                if grouped(WINDOW_COLUMNS[0]) && grouped(WINDOW_COLUMNS[1]) {
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

/// The stream's watermark, as an operator.
fn watermark_operator(
    ctx: &SessionContext,
    stream: &StreamTable<'_>,
    provider: &Arc<dyn TableProvider>,
    metrics: Arc<StreamMetrics>,
) -> Result<WatermarkOperator> {
    let state = ctx.state();
    let schema = DFSchema::try_from(provider.schema().as_ref().clone())?;
    let (logical, text) = stream.watermark(&state, &schema)?;
    let physical = state.create_physical_expr(logical, &schema)?;
    Ok(WatermarkOperator::new(physical, text, metrics))
}
