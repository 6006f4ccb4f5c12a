//! Flink's syntax forms that are not plain function calls, rewritten in the
//! parsed statement before DataFusion plans it:
//!
//! - `TIMESTAMPDIFF(DAY, t1, t2)` and `TIMESTAMPADD(WEEK, 1, t)`: the unit
//!   keyword (parsed as a column name) becomes the string `'DAY'`;
//! - `FLOOR(t TO unit)` becomes `date_trunc('unit', t)`, and `CEIL(t TO
//!   unit)` that plus one unit where `t` is not already on a unit boundary.
//!   Weeks start on Sunday, as in Flink (`date_trunc`'s start on Monday).
//!   A DATE comes back as a TIMESTAMP (Flink keeps DATE), as from
//!   `date_trunc`;
//! - `LISTAGG(x)` becomes `LISTAGG(x, ',')`, Flink's default separator.

use std::ops::ControlFlow;

use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, BinaryOperator, CaseWhen, CeilFloorKind, DateTimeField, Expr, Function,
    FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, Interval,
    ObjectName, Value, VisitMut,
};

use super::arithmetic::{Unit, UNITS};
use crate::error::{Error, Result};

/// Rewrites Flink's syntax forms everywhere in `statement` (a query, the
/// query of an INSERT, CREATE VIEW or CREATE TABLE AS, COPY, EXPLAIN).
pub fn rewrite(statement: &mut DFStatement) -> Result<()> {
    match statement {
        DFStatement::Statement(inner) => rewrite_node(inner.as_mut()),
        DFStatement::Explain(explain) => rewrite(&mut explain.statement),
        DFStatement::CopyTo(copy) => match &mut copy.source {
            CopyToSource::Query(query) => rewrite_node(query.as_mut()),
            CopyToSource::Relation(_) => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Rewrites Flink's syntax forms inside one expression, such as a computed
/// column's or a watermark's in a CREATE TABLE.
pub fn rewrite_expression(expr: &mut Expr) -> Result<()> {
    rewrite_node(expr)
}

fn rewrite_node<N: VisitMut>(node: &mut N) -> Result<()> {
    match visit_expressions_mut(node, |expr| match rewrite_expr(expr) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => ControlFlow::Break(e),
    }) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(e) => Err(e),
    }
}

/// Rewrites `expr` itself (its children come first: the visit is
/// bottom-up, so a nested FLOOR is already rewritten).
fn rewrite_expr(expr: &mut Expr) -> Result<()> {
    match expr {
        Expr::Function(function) => rewrite_function(function),
        Expr::Floor {
            expr: inner,
            field: CeilFloorKind::DateTimeField(field),
        } if *field != DateTimeField::NoDateTime => {
            let unit = round_unit("FLOOR", field)?;
            *expr = floor((**inner).clone(), unit);
            Ok(())
        }
        Expr::Ceil {
            expr: inner,
            field: CeilFloorKind::DateTimeField(field),
        } if *field != DateTimeField::NoDateTime => {
            let unit = round_unit("CEIL", field)?;
            *expr = ceil((**inner).clone(), unit);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The one-part, case-insensitive name of a call.
fn name_of(function: &Function) -> Option<String> {
    match function.name.0.as_slice() {
        [part] => part.as_ident().map(|i| i.value.to_ascii_lowercase()),
        _ => None,
    }
}

fn rewrite_function(function: &mut Function) -> Result<()> {
    let Some(name) = name_of(function) else {
        return Ok(());
    };
    let FunctionArguments::List(list) = &mut function.args else {
        return Ok(());
    };
    match name.as_str() {
        "timestampdiff" | "timestampadd" => {
            let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(first))) = list.args.first_mut()
            else {
                return Ok(());
            };
            if let Expr::Identifier(ident) = first {
                let Some(unit) = Unit::parse(&ident.value) else {
                    return Err(Error::query(format!(
                        "{}: '{}' is not a unit; write one of {UNITS}",
                        name.to_ascii_uppercase(),
                        ident.value
                    )));
                };
                *first = string(unit.name());
            }
            Ok(())
        }
        "listagg" if list.args.len() == 1 => {
            list.args
                .push(FunctionArg::Unnamed(FunctionArgExpr::Expr(string(","))));
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A unit FLOOR and CEIL round to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoundUnit {
    /// `date_trunc`'s name for it and the interval of one.
    Trunc(&'static str, &'static str),
    /// Weeks from Sunday.
    Week,
}

fn round_unit(function: &str, field: &DateTimeField) -> Result<RoundUnit> {
    Ok(match field {
        DateTimeField::Year | DateTimeField::Years => RoundUnit::Trunc("year", "1 year"),
        DateTimeField::Quarter => RoundUnit::Trunc("quarter", "3 months"),
        DateTimeField::Month | DateTimeField::Months => RoundUnit::Trunc("month", "1 month"),
        DateTimeField::Week(None) | DateTimeField::Weeks => RoundUnit::Week,
        DateTimeField::Day | DateTimeField::Days => RoundUnit::Trunc("day", "1 day"),
        DateTimeField::Hour | DateTimeField::Hours => RoundUnit::Trunc("hour", "1 hour"),
        DateTimeField::Minute | DateTimeField::Minutes => RoundUnit::Trunc("minute", "1 minute"),
        DateTimeField::Second | DateTimeField::Seconds => RoundUnit::Trunc("second", "1 second"),
        DateTimeField::Millisecond | DateTimeField::Milliseconds => {
            RoundUnit::Trunc("millisecond", "1 millisecond")
        }
        other => {
            return Err(Error::query(format!(
                "{function}(... TO {other}) is not supported; round to YEAR, QUARTER, MONTH, \
                 WEEK, DAY, HOUR, MINUTE, SECOND or MILLISECOND"
            )))
        }
    })
}

/// `FLOOR(value TO unit)`.
fn floor(value: Expr, unit: RoundUnit) -> Expr {
    match unit {
        RoundUnit::Trunc(name, _) => call("date_trunc", vec![string(name), value]),
        // date_trunc's weeks start on Monday: truncate the next day's week
        // and step back a day.
        RoundUnit::Week => binary(
            call(
                "date_trunc",
                vec![
                    string("week"),
                    binary(value, BinaryOperator::Plus, interval("1 day")),
                ],
            ),
            BinaryOperator::Minus,
            interval("1 day"),
        ),
    }
}

/// `CEIL(value TO unit)`: `CASE WHEN floor < value THEN floor + one unit
/// ELSE floor END`.
fn ceil(value: Expr, unit: RoundUnit) -> Expr {
    let one = match unit {
        RoundUnit::Trunc(_, one) => one,
        RoundUnit::Week => "7 days",
    };
    let floored = floor(value.clone(), unit);
    Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: vec![CaseWhen {
            condition: binary(floored.clone(), BinaryOperator::Lt, value),
            result: binary(floored.clone(), BinaryOperator::Plus, interval(one)),
        }],
        else_result: Some(Box::new(floored)),
    }
}

fn string(text: &str) -> Expr {
    Expr::Value(Value::SingleQuotedString(text.to_string()).with_empty_span())
}

fn interval(text: &str) -> Expr {
    Expr::Interval(Interval {
        value: Box::new(string(text)),
        leading_field: None,
        leading_precision: None,
        last_field: None,
        fractional_seconds_precision: None,
    })
}

fn binary(left: Expr, op: BinaryOperator, right: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(left),
        op,
        right: Box::new(right),
    }
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParserBuilder;

    fn rewritten(sql: &str) -> Result<String> {
        let mut statement = DFParserBuilder::new(sql)
            .build()
            .unwrap()
            .parse_statement()
            .unwrap();
        rewrite(&mut statement)?;
        Ok(statement.to_string())
    }

    #[test]
    fn units_become_strings() {
        assert_eq!(
            rewritten("SELECT TIMESTAMPDIFF(DAY, a, b), timestampadd(sql_tsi_week, 1, c) FROM t")
                .unwrap(),
            "SELECT TIMESTAMPDIFF('DAY', a, b), timestampadd('WEEK', 1, c) FROM t"
        );
        // Already a string: left for the function to check.
        assert_eq!(
            rewritten("SELECT TIMESTAMPDIFF('day', a, b)").unwrap(),
            "SELECT TIMESTAMPDIFF('day', a, b)"
        );
        let err = rewritten("SELECT TIMESTAMPDIFF(FORTNIGHT, a, b)").unwrap_err();
        assert!(
            err.to_string().contains("'FORTNIGHT' is not a unit"),
            "{err}"
        );
    }

    #[test]
    fn floor_and_ceil_to_a_unit_become_date_trunc() {
        assert_eq!(
            rewritten("SELECT FLOOR(ts TO HOUR), FLOOR(x), CEIL(y) FROM t").unwrap(),
            "SELECT date_trunc('hour', ts), FLOOR(x), CEIL(y) FROM t"
        );
        assert_eq!(
            rewritten("SELECT CEIL(ts TO MINUTE) FROM t").unwrap(),
            "SELECT CASE WHEN date_trunc('minute', ts) < ts \
             THEN date_trunc('minute', ts) + INTERVAL '1 minute' \
             ELSE date_trunc('minute', ts) END FROM t"
        );
        assert_eq!(
            rewritten("SELECT FLOOR(ts TO WEEK) FROM t").unwrap(),
            "SELECT date_trunc('week', ts + INTERVAL '1 day') - INTERVAL '1 day' FROM t"
        );
        // Nested, in WHERE and GROUP BY, in a subquery and an INSERT.
        assert_eq!(
            rewritten(
                "INSERT INTO s SELECT FLOOR(FLOOR(ts TO DAY) TO MONTH) FROM t \
                 WHERE FLOOR(ts TO DAY) IN (SELECT FLOOR(u TO YEAR) FROM v) GROUP BY FLOOR(ts TO DAY)"
            )
            .unwrap(),
            "INSERT INTO s SELECT date_trunc('month', date_trunc('day', ts)) FROM t \
             WHERE date_trunc('day', ts) IN (SELECT date_trunc('year', u) FROM v) \
             GROUP BY date_trunc('day', ts)"
        );
        let err = rewritten("SELECT FLOOR(ts TO DECADE) FROM t").unwrap_err();
        assert!(err.to_string().contains("FLOOR(... TO DECADE)"), "{err}");
    }

    #[test]
    fn listagg_gets_flinks_default_separator() {
        assert_eq!(
            rewritten("SELECT LISTAGG(name), LISTAGG(name, ';') FROM t").unwrap(),
            "SELECT LISTAGG(name, ','), LISTAGG(name, ';') FROM t"
        );
    }

    #[test]
    fn one_expression_is_rewritten() {
        let mut expr = datafusion::sql::sqlparser::parser::Parser::new(
            &datafusion::sql::sqlparser::dialect::GenericDialect {},
        )
        .try_with_sql("TIMESTAMPDIFF(MINUTE, a, FLOOR(b TO HOUR))")
        .unwrap()
        .parse_expr()
        .unwrap();
        rewrite_expression(&mut expr).unwrap();
        assert_eq!(
            expr.to_string(),
            "TIMESTAMPDIFF('MINUTE', a, date_trunc('hour', b))"
        );
    }

    #[test]
    fn explain_and_views_are_rewritten() {
        assert_eq!(
            rewritten("EXPLAIN SELECT FLOOR(ts TO DAY) FROM t").unwrap(),
            "EXPLAIN SELECT date_trunc('day', ts) FROM t"
        );
        assert_eq!(
            rewritten("CREATE VIEW v AS SELECT LISTAGG(a) FROM t").unwrap(),
            "CREATE VIEW v AS SELECT LISTAGG(a, ',') FROM t"
        );
    }
}
