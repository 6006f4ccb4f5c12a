//! A stand-in: a table that takes the place of a plan node (an aggregate),
//! so the part of the query above the node can be planned and run on its
//! own over the rows an operator emits for it.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::{col, LogicalPlan, LogicalPlanBuilder, Projection};

use crate::error::Result;
use crate::operators::emission_source::{EmissionTable, Slot};

/// The stand-in for a node of output `schema`.
pub(super) struct StandIn {
    /// The table operators fill: one column `c<i>` per column of the node.
    pub table: Arc<dyn TableProvider>,
    /// That table's schema (plain names, every column nullable).
    pub schema: SchemaRef,
    /// The plan to put where the node was: a scan of `table` with its
    /// columns named (and qualified) as the node's.
    pub plan: LogicalPlan,
}

/// A stand-in for a node whose output is `schema`, scanned as `name`.
pub(super) fn stand_in(schema: &DFSchema, name: &str) -> Result<StandIn> {
    let flat: SchemaRef = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| Field::new(format!("c{i}"), f.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let table: Arc<dyn TableProvider> =
        Arc::new(EmissionTable::new(Arc::clone(&flat), Slot::default()));
    let scan =
        LogicalPlanBuilder::scan(name, provider_as_source(Arc::clone(&table)), None)?.build()?;
    let exprs = schema
        .iter()
        .enumerate()
        .map(|(i, (qualifier, field))| {
            col(Column::new(Some(name), format!("c{i}")))
                .alias_qualified(qualifier.cloned(), field.name())
        })
        .collect::<Vec<_>>();
    let plan = LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(scan))?);
    Ok(StandIn {
        table,
        schema: flat,
        plan,
    })
}

/// `plan` with its first node (from the top) equal to `target` replaced by
/// `replacement`.
pub(super) fn replace_node(
    plan: LogicalPlan,
    target: &LogicalPlan,
    replacement: &LogicalPlan,
) -> Result<LogicalPlan> {
    let mut replaced = false;
    Ok(plan
        .transform_down(|node| {
            if !replaced && &node == target {
                replaced = true;
                return Ok(Transformed::new(
                    replacement.clone(),
                    true,
                    TreeNodeRecursion::Jump,
                ));
            }
            Ok(Transformed::no(node))
        })?
        .data)
}
