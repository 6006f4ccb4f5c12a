//! `EmissionSource`: the table a streaming query's physical plan reads each
//! emission's rows from.
//!
//! The query's plan is optimized and physically planned once, with this
//! table in place of the stream; before each run the operator puts the
//! emission's rows in the shared slot, and the plan's leaves read them.
//! Planning once per query instead of once per emission is what keeps an
//! emission cheap.

use std::fmt;
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};

/// Where an emission's rows wait for the plan to read them.
pub type Slot = Arc<Mutex<Vec<RecordBatch>>>;

/// A table whose rows are whatever is in its slot when the plan runs.
#[derive(Debug)]
pub struct EmissionTable {
    schema: SchemaRef,
    slot: Slot,
}

impl EmissionTable {
    /// A table of `schema` reading `slot`.
    pub fn new(schema: SchemaRef, slot: Slot) -> Self {
        EmissionTable { schema, slot }
    }
}

#[async_trait::async_trait]
impl TableProvider for EmissionTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => Arc::clone(&self.schema),
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(Arc::new(EmissionSourceExec {
            schema,
            projection: projection.cloned(),
            slot: Arc::clone(&self.slot),
            properties: Arc::new(properties),
        }))
    }
}

/// The plan leaf that reads the slot's rows.
#[derive(Debug, Clone)]
pub struct EmissionSourceExec {
    schema: SchemaRef,
    projection: Option<Vec<usize>>,
    slot: Slot,
    properties: Arc<PlanProperties>,
}

impl EmissionSourceExec {
    /// A leaf of `schema` reading all columns from `slot`.
    pub fn new(schema: SchemaRef, slot: Slot) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        EmissionSourceExec {
            schema,
            projection: None,
            slot,
            properties: Arc::new(properties),
        }
    }
}

impl DisplayAs for EmissionSourceExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "EmissionSourceExec")
    }
}

impl ExecutionPlan for EmissionSourceExec {
    fn name(&self) -> &str {
        "EmissionSourceExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "EmissionSourceExec has one partition, not {partition}"
            )));
        }
        // A copy (of Arcs): the plan may read the same rows more than once
        // (a self-join); the operator empties the slot after the run.
        let rows = self
            .slot
            .lock()
            .map_err(|_| DataFusionError::Internal("emission slot poisoned".into()))?
            .clone();
        let rows = match &self.projection {
            Some(p) => rows
                .iter()
                .map(|b| b.project(p))
                .collect::<std::result::Result<Vec<_>, _>>()?,
            None => rows,
        };
        Ok(Box::pin(MemoryStream::try_new(
            rows,
            Arc::clone(&self.schema),
            None,
        )?))
    }
}

/// A copy of `plan` whose emission leaves read `slot`: it can run while
/// `plan` runs (the copy's operators are new instances).
pub fn with_slot(plan: &Arc<dyn ExecutionPlan>, slot: &Slot) -> Result<Arc<dyn ExecutionPlan>> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    Ok(Arc::clone(plan)
        .transform_up(|node| {
            let any: &dyn std::any::Any = node.as_ref();
            match any.downcast_ref::<EmissionSourceExec>() {
                Some(leaf) => {
                    let mut copy = leaf.clone();
                    copy.slot = Arc::clone(slot);
                    Ok(Transformed::yes(Arc::new(copy) as Arc<dyn ExecutionPlan>))
                }
                None => Ok(Transformed::no(node)),
            }
        })?
        .data)
}
