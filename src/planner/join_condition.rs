//! A join's ON condition split as the join operators take it: the
//! equalities of a left and a right expression (the keys rows are looked up
//! by), and the rest (a filter over the joined rows).

use std::sync::Arc;

use datafusion::logical_expr::utils::{find_valid_equijoin_key_pair, split_conjunction};
use datafusion::logical_expr::{Expr, Join, LogicalPlan, Operator};
use datafusion::optimizer::push_down_filter::PushDownFilter;
use datafusion::optimizer::{Optimizer, OptimizerContext, OptimizerRule};
use datafusion::prelude::SessionContext;

use crate::error::Result;

/// The condition of one join.
pub(super) struct JoinCondition {
    /// (left expression, right expression) pairs that must be equal.
    pub keys: Vec<(Expr, Expr)>,
    /// Every other conjunct.
    pub residual: Vec<Expr>,
}

/// Splits `join`'s ON condition (of an analyzed plan, so both sides of an
/// equality have one type).
pub(super) fn split_condition(join: &Join) -> Result<JoinCondition> {
    let mut keys: Vec<(Expr, Expr)> = join.on.clone();
    let mut residual = Vec::new();
    if let Some(filter) = &join.filter {
        for conjunct in split_conjunction(filter) {
            let pair = match conjunct {
                Expr::BinaryExpr(b) if b.op == Operator::Eq => find_valid_equijoin_key_pair(
                    &b.left,
                    &b.right,
                    join.left.schema(),
                    join.right.schema(),
                )?,
                _ => None,
            };
            match pair {
                Some(pair) => keys.push(pair),
                None => residual.push(conjunct.clone()),
            }
        }
    }
    Ok(JoinCondition { keys, residual })
}

/// `plan` analyzed (types coerced) and its filters pushed down into its
/// joins' conditions and inputs, as join conditions are split from: a
/// comma join with its condition in WHERE (`FROM a, b WHERE a.k = b.k`)
/// becomes a join on it, and a side's own filters run before its rows are
/// held.
pub(super) fn prepared(ctx: &SessionContext, plan: &LogicalPlan) -> Result<LogicalPlan> {
    let state = ctx.state();
    let analyzed =
        state
            .analyzer()
            .execute_and_check(plan.clone(), state.config_options(), |_, _| {})?;
    let rules: Vec<Arc<dyn OptimizerRule + Send + Sync>> = vec![Arc::new(PushDownFilter::new())];
    let context = OptimizerContext::new();
    Ok(Optimizer::with_rules(rules).optimize(analyzed, &context, |_, _| {})?)
}
