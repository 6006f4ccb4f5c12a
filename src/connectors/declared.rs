//! A table's declared columns: the Arrow schema of its physical columns,
//! typed as DataFusion types the same SQL, and the view that adds its
//! computed columns over what a connector reads.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::catalog::TableProvider;
use datafusion::common::{DFSchema, DataFusionError};
use datafusion::datasource::{provider_as_source, ViewTable};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{col, Expr, ExprSchemable, LogicalPlanBuilder};
use datafusion::sql::sqlparser::ast::{self, ExprWithAlias};

use crate::error::{Error, Result};
use crate::sql::create_table::{normalize, Column, CreateTable};

/// The Arrow schema of the declared physical columns, typed exactly as
/// DataFusion types the same SQL types (by planning `CAST(NULL AS type)`).
pub fn declared_schema(state: &SessionState, definition: &CreateTable) -> Result<Schema> {
    let empty = DFSchema::empty();
    let mut fields: Vec<Field> = Vec::new();
    for column in &definition.columns {
        let Column::Physical(def) = column else {
            continue;
        };
        let name = normalize(&def.name);
        if fields.iter().any(|f| f.name() == &name) {
            return Err(Error::query_at(
                format!("column '{name}' is declared twice"),
                Some(column.location()),
            ));
        }
        let cast =
            state.create_logical_expr(&format!("CAST(NULL AS {})", def.data_type), &empty)?;
        let data_type = cast.get_type(&empty)?;
        let not_null = def
            .options
            .iter()
            .any(|o| matches!(o.option, ast::ColumnOption::NotNull));
        fields.push(Field::new(name, data_type, !not_null));
    }
    Ok(Schema::new(fields))
}

/// Wraps `source` in a view that yields exactly the declared columns, in
/// declaration order, computed ones included; returns `source` itself when it
/// already does.
pub fn with_computed_columns(
    state: &SessionState,
    definition: &CreateTable,
    source: Arc<dyn TableProvider>,
) -> Result<Arc<dyn TableProvider>> {
    let source_columns: Vec<String> = source
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let declared_columns: Vec<String> = definition.columns.iter().map(Column::name).collect();
    if source_columns == declared_columns {
        return Ok(source);
    }
    let scan = LogicalPlanBuilder::scan(
        definition.table_name(),
        provider_as_source(Arc::clone(&source)),
        None,
    )?;
    let input_schema = Arc::clone(scan.schema());
    let exprs = definition
        .columns
        .iter()
        .map(|column| column_expr(state, column, &input_schema))
        .collect::<Result<Vec<_>>>()?;
    let plan = scan.project(exprs)?.build()?;
    Ok(Arc::new(ViewTable::new(
        plan,
        Some(definition.definition.clone()),
    )))
}

/// The expression of a declared column over `input`, the physical
/// columns: the column itself, or its computed expression planned by
/// DataFusion and named after it.
pub fn column_expr(state: &SessionState, column: &Column, input: &DFSchema) -> Result<Expr> {
    Ok(match column {
        Column::Physical(_) => col(datafusion::common::Column::new_unqualified(column.name())),
        Column::Computed { expr, .. } => state
            .create_logical_expr_from_sql_expr(
                ExprWithAlias {
                    expr: (**expr).clone(),
                    alias: None,
                },
                input,
            )
            .map_err(|e| in_column(column, e))?
            .alias(column.name()),
    })
}

fn in_column(column: &Column, err: DataFusionError) -> Error {
    match Error::from(err) {
        Error::Query { message, location } => Error::query_at(
            format!("computed column '{}': {message}", column.name()),
            location.or(Some(column.location())),
        ),
        other => other,
    }
}
