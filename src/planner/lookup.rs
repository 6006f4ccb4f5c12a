//! Joins of a stream with a bounded table (a table without a WATERMARK),
//! planned as a lookup: the table is read once into a hash table, each
//! stream batch probed against it ([`LookupJoinOperator`]). The query is
//! split at the join: below it the stream's side, run per batch; above it
//! the rest of the query, reading the joined rows through a stand-in.

use std::sync::Arc;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, Join, JoinType, LogicalPlan};
use datafusion::prelude::SessionContext;

use super::join_condition::{prepared, split_condition, JoinCondition};
use super::scans::stream_scans;
use super::stand_in::{replace_node, stand_in};
use crate::error::{Error, Result};
use crate::operators::lookup_join::{LookupJoinOperator, LookupJoinSpec, StreamSide};

/// A query split at its topmost join of the stream with a bounded table.
pub(super) struct LookupSplit {
    /// The stream's side of the join.
    pub probe: LogicalPlan,
    pub operator: LookupJoinOperator,
    /// The query with the join replaced by a scan of `joined`.
    pub rest: LogicalPlan,
    /// The table the rest reads the joined rows from.
    pub joined: Arc<dyn TableProvider>,
}

/// `plan` split at its topmost join of a stream with a bounded table, or
/// `None` when it has none. The table is read only with `read_table` (not
/// for EXPLAIN).
pub(super) async fn split_at_lookup(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    read_table: bool,
) -> Result<Option<LookupSplit>> {
    // Type coercion first: the keys of both sides then have one type.
    let state = ctx.state();
    let plan = prepared(ctx, plan)?;
    let mut found: Option<(Join, StreamSide)> = None;
    plan.apply(|node| {
        if let LogicalPlan::Join(join) = node {
            let left = !stream_scans(&join.left)?.is_empty();
            let right = !stream_scans(&join.right)?.is_empty();
            if left != right {
                let side = if left {
                    StreamSide::Left
                } else {
                    StreamSide::Right
                };
                found = Some((join.clone(), side));
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    let Some((join, side)) = found else {
        return Ok(None);
    };
    let (probe, build) = match side {
        StreamSide::Left => (join.left.as_ref(), join.right.as_ref()),
        StreamSide::Right => (join.right.as_ref(), join.left.as_ref()),
    };
    let table_name = table_name(build);
    let keep_unmatched = match (join.join_type, side) {
        (JoinType::Inner, _) => false,
        (JoinType::Left, StreamSide::Left) | (JoinType::Right, StreamSide::Right) => true,
        (kind, _) => {
            return Err(Error::query(format!(
                "a {} join of a stream with table '{table_name}' is not supported: a \
                 bounded table joins a stream INNER, or LEFT with the stream on the left \
                 (each stream row joined once, with the table as it is)",
                kind.to_string().to_uppercase()
            )))
        }
    };

    // Equalities of a stream expression and a table expression are the
    // keys; the rest of ON filters the pairs.
    let JoinCondition {
        keys: pairs,
        residual,
    } = split_condition(&join)?;
    if pairs.is_empty() {
        return Err(Error::query(format!(
            "a join of a stream with table '{table_name}' needs an equality of the two in \
             ON (s.key = t.key), to look each stream row up by"
        )));
    }
    let (stream_keys, table_keys): (Vec<Expr>, Vec<Expr>) = match side {
        StreamSide::Left => pairs.into_iter().unzip(),
        StreamSide::Right => pairs.into_iter().map(|(l, r)| (r, l)).unzip(),
    };
    let physical = |exprs: Vec<Expr>, input: &LogicalPlan| {
        exprs
            .into_iter()
            .map(|e| Ok(state.create_physical_expr(e, input.schema())?))
            .collect::<Result<Vec<_>>>()
    };
    let stream_keys = physical(stream_keys, probe)?;
    let table_keys = physical(table_keys, build)?;
    let residual = match residual.into_iter().reduce(Expr::and) {
        Some(expr) => Some(state.create_physical_expr(expr, &join.schema)?),
        None => None,
    };

    let stand_in = stand_in(&join.schema, "joined")?;
    let table = match read_table {
        true => all_rows(ctx, build).await?,
        false => RecordBatch::new_empty(Arc::new(build.schema().as_arrow().clone())),
    };
    let operator = LookupJoinOperator::new(
        LookupJoinSpec {
            table_name,
            stream_side: side,
            keep_unmatched,
            stream_keys,
            table_keys,
            residual,
            schema: Arc::clone(&stand_in.schema),
        },
        table,
    )?;
    let rest = replace_node(plan, &LogicalPlan::Join(join.clone()), &stand_in.plan)?;
    Ok(Some(LookupSplit {
        probe: probe.clone(),
        operator,
        rest,
        joined: stand_in.table,
    }))
}

/// Every row of the bounded side `build`, as one batch.
async fn all_rows(ctx: &SessionContext, build: &LogicalPlan) -> Result<RecordBatch> {
    let frame = ctx.execute_logical_plan(build.clone()).await?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await?;
    Ok(concat_batches(&schema, &batches)?)
}

/// The name of the table `plan` reads (the first scan), for messages.
fn table_name(plan: &LogicalPlan) -> String {
    let mut name = String::from("?");
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            name = scan.table_name.to_string();
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    name
}
