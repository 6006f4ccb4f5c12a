//! Where a query's plan reads streams: each scan of a stream table, direct
//! or through a window function, the merging of several reads of one
//! window into one, and a stream's event-time column.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::DFSchema;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

use super::window_table::WindowTable;
use crate::connectors::StreamTable;
use crate::error::{Error, Result};
use crate::operators::emission::replace_scans;

/// How a plan reads its stream.
pub(super) enum StreamScan {
    /// The stream table itself.
    Direct(Arc<dyn TableProvider>),
    /// A window function over the stream table (or over a view whose query
    /// reads it).
    Windowed(Arc<WindowTable>, Arc<dyn TableProvider>),
}

/// True when `plan` reads a stream (without opening it).
pub fn reads_stream(plan: &LogicalPlan) -> Result<bool> {
    Ok(!stream_scans(plan)?.is_empty())
}

/// Every scan of a stream in `plan`, its subqueries' too.
pub(super) fn stream_scans(plan: &LogicalPlan) -> Result<Vec<StreamScan>> {
    let mut scans = Vec::new();
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if let Ok(provider) = source_as_provider(&scan.source) {
                let any: &dyn std::any::Any = provider.as_ref();
                if let Some(window) = any.downcast_ref::<WindowTable>() {
                    let over_stream = match window.view_plan() {
                        Some(view) => reads_stream(&view)?,
                        None => window.stream_source().is_some(),
                    };
                    if over_stream {
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

/// The window every scan of `scans` reads, when they all read the same
/// window over the same stream.
pub(super) fn one_window(scans: &[StreamScan]) -> Option<&Arc<WindowTable>> {
    let StreamScan::Windowed(first, _) = scans.first()? else {
        return None;
    };
    let same =
        |scan: &StreamScan| matches!(scan, StreamScan::Windowed(w, _) if w.same_window(first));
    scans.iter().all(same).then_some(first)
}

/// `plan` with every window function scan reading the first one's table,
/// when they all are the same window over the same stream; an error
/// otherwise.
pub(super) fn one_window_scan(plan: &LogicalPlan, scans: &[StreamScan]) -> Result<LogicalPlan> {
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
        "a query may join windows of streams (on window_start and window_end, a window \
         join) or UNION ALL them, but not yet join a stream's rows with a window (an \
         interval or regular join); window both sides, or run each in its own query",
    )
}

/// The `Arc<WindowTable>` behind a provider known to be one.
fn window_arc(provider: &Arc<dyn TableProvider>) -> Arc<WindowTable> {
    let any: Arc<dyn std::any::Any + Send + Sync> = Arc::clone(provider) as _;
    any.downcast::<WindowTable>().expect("a WindowTable")
}

/// The event-time column of stream table `provider`: the one its
/// WATERMARK is declared for, if any.
pub(super) fn event_time_column(
    ctx: &SessionContext,
    provider: &Arc<dyn TableProvider>,
) -> Result<Option<String>> {
    let stream = StreamTable::of(provider.as_ref())
        .ok_or_else(|| Error::Internal("a stream scan without a stream".into()))?;
    let schema = DFSchema::try_from(provider.schema().as_ref().clone())?;
    Ok(stream.watermark(&ctx.state(), &schema)?.map(|w| w.column))
}

/// True when `plan` aggregates or ranks (outside subqueries).
pub(super) fn has_stateful(plan: &LogicalPlan) -> Result<bool> {
    let mut found = false;
    plan.apply(|node| {
        found |= matches!(node, LogicalPlan::Aggregate(_) | LogicalPlan::Window(_));
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    Ok(found)
}
