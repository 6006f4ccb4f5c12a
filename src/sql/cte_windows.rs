//! Windows over a CTE: `WITH c AS (SELECT ...) SELECT ... FROM
//! TABLE(TUMBLE(TABLE c, ...))`.
//!
//! A window table function looks its input up by name in the catalog,
//! where a CTE is not. So each CTE a window reads is registered, for the
//! statement only, as a view of its own name (its query, with the CTEs
//! before it, which it may read), and the window's call is pointed at
//! that view; the engine drops the views once the statement is planned.
//! A window over a view is planned as any (see the streaming planner).

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, Query, Statement, TableFactor, Value, VisitMut, VisitorMut,
    With,
};

use super::window_tvf::WINDOW_FUNCTIONS;

/// Names the views apart, across statements and sessions.
static NEXT_VIEW: AtomicU64 = AtomicU64::new(1);

/// The views `statement`'s windows over CTEs need: (name, `CREATE VIEW`
/// statement), in the order to create them; the windows' calls now name
/// them.
pub fn cte_views(statement: &mut DFStatement) -> Vec<(String, String)> {
    let DFStatement::Statement(ast) = statement else {
        return Vec::new();
    };
    let query = match ast.as_mut() {
        Statement::Query(query) => query,
        Statement::Insert(insert) => match insert.source.as_mut() {
            Some(query) => query,
            None => return Vec::new(),
        },
        _ => return Vec::new(),
    };
    let Some(with) = query.with.clone() else {
        return Vec::new();
    };
    let mut finder = WindowsOverCtes {
        with: &with,
        views: BTreeMap::new(),
    };
    let _ = query.body.visit(&mut finder);
    finder
        .views
        .into_iter()
        .map(|(index, name)| {
            let mut body: Query = (*with.cte_tables[index].query).clone();
            // The CTEs before this one, which its query may read.
            let earlier = with.cte_tables[..index].to_vec();
            if !earlier.is_empty() {
                body.with = Some(match body.with.take() {
                    Some(mut own) => {
                        let mut all = earlier;
                        all.append(&mut own.cte_tables);
                        own.cte_tables = all;
                        own
                    }
                    None => With {
                        with_token: with.with_token.clone(),
                        recursive: false,
                        cte_tables: earlier,
                    },
                });
            }
            let create = format!("CREATE VIEW {name} AS {body}");
            (name, create)
        })
        .collect()
}

/// Points window calls over a CTE at that CTE's view.
struct WindowsOverCtes<'a> {
    with: &'a With,
    /// CTE index -> its view's name.
    views: BTreeMap<usize, String>,
}

impl VisitorMut for WindowsOverCtes<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table {
            name,
            args: Some(args),
            ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        let function = name.to_string().to_ascii_lowercase();
        if !WINDOW_FUNCTIONS.iter().any(|(_, f)| *f == function) {
            return ControlFlow::Continue(());
        }
        let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(value)))) =
            args.args.first_mut()
        else {
            return ControlFlow::Continue(());
        };
        let Value::SingleQuotedString(source) = &mut value.value else {
            return ControlFlow::Continue(());
        };
        let cte = self.with.cte_tables.iter().position(|cte| {
            cte.alias.columns.is_empty() && cte.alias.name.value.eq_ignore_ascii_case(source)
        });
        if let Some(index) = cte {
            let view = self.views.entry(index).or_insert_with(|| {
                format!(
                    "__flowsql_cte_{}_{}",
                    self.with.cte_tables[index]
                        .alias
                        .name
                        .value
                        .to_ascii_lowercase(),
                    NEXT_VIEW.fetch_add(1, Ordering::Relaxed)
                )
            });
            *source = view.clone();
        }
        ControlFlow::Continue(())
    }
}
