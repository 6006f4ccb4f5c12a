//! Flink-style `CREATE TABLE name (columns) WITH ('connector' = ...)`.
//!
//! DataFusion's parser knows `CREATE EXTERNAL TABLE` but not Flink's connector
//! DDL, whose column list may hold computed columns (`name AS expr`) and a
//! `WATERMARK FOR col AS expr` clause. This file parses that form with
//! sqlparser's own building blocks (identifiers, data types, expressions), so
//! types and expressions mean exactly what they mean elsewhere in DataFusion.
//!
//! A `CREATE TABLE` without a `WITH (...)` clause is not ours: the caller
//! hands it to DataFusion (`CREATE TABLE t (a INT)`, `CREATE TABLE t AS ...`).

use datafusion::sql::sqlparser::ast::{ColumnDef, DataType, Expr, Ident, ObjectName};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::error::{from_parser_error, Error, Location, Result};

/// A parsed Flink-style connector table.
#[derive(Debug, Clone)]
pub struct CreateTable {
    /// The table's name as written.
    pub name: ObjectName,
    /// `CREATE OR REPLACE TABLE`.
    pub or_replace: bool,
    /// `CREATE TABLE IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// The columns in declaration order, physical and computed.
    pub columns: Vec<Column>,
    /// `WATERMARK FOR column AS expr`, if declared.
    pub watermark: Option<Watermark>,
    /// `PRIMARY KEY (a, b) NOT ENFORCED`: its columns (none when not
    /// declared). As in Flink, not checked: a sink writes upserts by it.
    pub primary_key: Vec<Ident>,
    /// `PARTITIONED BY (a, b)`: the columns a filesystem sink makes
    /// directories of (`a=1/b=x/`), in order (none when not declared).
    pub partitioned_by: Vec<Ident>,
    /// The `WITH (...)` options in the order written.
    pub options: Vec<TableOption>,
    /// The statement's SQL text.
    pub definition: String,
}

/// One entry of the column list.
#[derive(Debug, Clone)]
pub enum Column {
    /// A column read from the source, with its declared type.
    Physical(ColumnDef),
    /// `name AS expr`: computed from the physical columns of the same row.
    Computed {
        /// The column's name.
        name: Ident,
        /// Its expression.
        expr: Box<Expr>,
    },
}

impl Column {
    /// The column's name, normalized the way DataFusion normalizes
    /// identifiers (unquoted names are lower-cased).
    pub fn name(&self) -> String {
        match self {
            Column::Physical(def) => normalize(&def.name),
            Column::Computed { name, .. } => normalize(name),
        }
    }

    /// Where the column is declared, relative to the statement.
    pub fn location(&self) -> Location {
        let span = match self {
            Column::Physical(def) => def.name.span,
            Column::Computed { name, .. } => name.span,
        };
        Location {
            line: span.start.line,
            column: span.start.column,
        }
    }
}

/// `WATERMARK FOR column AS expr`.
#[derive(Debug, Clone)]
pub struct Watermark {
    /// The event-time column.
    pub column: Ident,
    /// The watermark expression, usually `column - INTERVAL 'n' SECOND`.
    pub expr: Expr,
}

/// One `'key' = 'value'` entry of the `WITH (...)` clause.
#[derive(Debug, Clone)]
pub struct TableOption {
    /// The key, e.g. `connector` or `csv.header`.
    pub key: String,
    /// The value, as written (string literals without their quotes).
    pub value: String,
    /// Where the key is written, relative to the statement.
    pub location: Location,
}

impl CreateTable {
    /// The value of option `key`, if given.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|o| o.key == key)
            .map(|o| o.value.as_str())
    }

    /// The table's name, normalized.
    pub fn table_name(&self) -> String {
        self.name
            .0
            .iter()
            .filter_map(|part| part.as_ident().map(normalize))
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// DataFusion's identifier normalization: unquoted names are lower-cased.
pub fn normalize(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// Parses `sql` as a connector table, or returns `Ok(None)` when it is some
/// other statement (including a `CREATE TABLE` that DataFusion handles).
pub fn parse_create_table(sql: &str) -> Result<Option<CreateTable>> {
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(sql)
        .map_err(from_parser_error)?;
    if !parser.parse_keyword(Keyword::CREATE) {
        return Ok(None);
    }
    let or_replace = parser.parse_keywords(&[Keyword::OR, Keyword::REPLACE]);
    let _temporary = parser.parse_keyword(Keyword::TEMPORARY);
    if !parser.parse_keyword(Keyword::TABLE) {
        return Ok(None);
    }
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parser.parse_object_name(false).map_err(from_parser_error)?;
    if !parser.consume_token(&Token::LParen) {
        return Ok(None);
    }
    let (columns, watermark, primary_key) = match parse_column_list(&mut parser) {
        Ok(list) => list,
        // Not Flink's column list; let DataFusion parse it and report.
        Err(_) if !mentions_with_clause(sql) => return Ok(None),
        Err(e) => return Err(from_parser_error(e)),
    };
    let mut partitioned_by = Vec::new();
    if parser.parse_keywords(&[Keyword::PARTITIONED, Keyword::BY]) {
        parser
            .expect_token(&Token::LParen)
            .map_err(from_parser_error)?;
        partitioned_by = parser
            .parse_comma_separated(|p| p.parse_identifier())
            .map_err(from_parser_error)?;
        parser
            .expect_token(&Token::RParen)
            .map_err(from_parser_error)?;
    }
    if !parser.parse_keyword(Keyword::WITH) {
        let is_flink_only =
            watermark.is_some() || columns.iter().any(|c| matches!(c, Column::Computed { .. }));
        if is_flink_only {
            return Err(Error::query(
                "a table with a WATERMARK or computed columns needs a connector: \
                 add WITH ('connector' = 'filesystem', 'path' = '...', 'format' = '...')",
            ));
        }
        return Ok(None);
    }
    let options = parse_options(&mut parser).map_err(from_parser_error)?;
    for (i, option) in options.iter().enumerate() {
        if options[..i].iter().any(|o| o.key == option.key) {
            return Err(Error::query_at(
                format!("option '{}' is given twice; keep one", option.key),
                Some(option.location),
            ));
        }
    }
    let _ = parser.consume_token(&Token::SemiColon);
    let rest = parser.peek_token();
    if rest.token != Token::EOF {
        return Err(from_parser_error(
            parser
                .expected::<()>("end of CREATE TABLE", rest)
                .unwrap_err(),
        ));
    }
    // Flink's syntax forms (FLOOR(ts TO MINUTE), TIMESTAMPDIFF(DAY, ...))
    // in computed columns and the watermark, as in queries.
    let mut columns = columns;
    let mut watermark = watermark;
    for column in &mut columns {
        if let Column::Computed { expr, .. } = column {
            super::flink_functions::rewrite::rewrite_expression(expr)?;
        }
    }
    if let Some(watermark) = &mut watermark {
        super::flink_functions::rewrite::rewrite_expression(&mut watermark.expr)?;
    }
    for (clause, keys) in [
        ("PRIMARY KEY", &primary_key),
        ("PARTITIONED BY", &partitioned_by),
    ] {
        for key in keys {
            if !columns.iter().any(|c| c.name() == normalize(key)) {
                return Err(Error::query(format!(
                    "{clause} names column '{}', which the table does not have",
                    key.value
                )));
            }
        }
    }
    Ok(Some(CreateTable {
        name,
        or_replace,
        if_not_exists,
        columns,
        watermark,
        primary_key,
        partitioned_by,
        options,
        definition: sql.to_string(),
    }))
}

fn mentions_with_clause(sql: &str) -> bool {
    sql.to_ascii_uppercase().contains("WITH")
}

/// The column list: columns, the WATERMARK and the PRIMARY KEY.
type ColumnList = (Vec<Column>, Option<Watermark>, Vec<Ident>);

fn parse_column_list(parser: &mut Parser) -> Result<ColumnList, ParserError> {
    let mut columns = Vec::new();
    let mut watermark = None;
    let mut primary_key = Vec::new();
    loop {
        // `[CONSTRAINT name] PRIMARY KEY (a, b) NOT ENFORCED`
        let constraint = is_word(&parser.peek_nth_token(0), "CONSTRAINT");
        let at = usize::from(constraint) * 2;
        if is_word(&parser.peek_nth_token(at), "PRIMARY")
            && is_word(&parser.peek_nth_token(at + 1), "KEY")
        {
            for _ in 0..at + 2 {
                parser.next_token();
            }
            parser.expect_token(&Token::LParen)?;
            let keys = parser.parse_comma_separated(|p| p.parse_identifier())?;
            parser.expect_token(&Token::RParen)?;
            if !parser.parse_keywords(&[Keyword::NOT, Keyword::ENFORCED]) {
                return parser.expected(
                    "NOT ENFORCED after PRIMARY KEY (...): as in Flink, keys are not checked",
                    parser.peek_token(),
                );
            }
            if !primary_key.is_empty() {
                return parser.expected("only one PRIMARY KEY", parser.peek_token());
            }
            primary_key = keys;
        } else if is_word(&parser.peek_nth_token(0), "WATERMARK")
            && is_word(&parser.peek_nth_token(1), "FOR")
        {
            parser.next_token();
            parser.next_token();
            let column = parser.parse_identifier()?;
            parser.expect_keyword(Keyword::AS)?;
            let expr = parser.parse_expr()?;
            if watermark.is_some() {
                return parser.expected("only one WATERMARK clause", parser.peek_token());
            }
            watermark = Some(Watermark { column, expr });
        } else if is_word(&parser.peek_nth_token(1), "AS") {
            let name = parser.parse_identifier()?;
            parser.expect_keyword(Keyword::AS)?;
            let expr = Box::new(parser.parse_expr()?);
            columns.push(Column::Computed { name, expr });
        } else {
            let def = parser.parse_column_def()?;
            if matches!(def.data_type, DataType::Unspecified) {
                return parser.expected("a column type", parser.peek_token());
            }
            columns.push(Column::Physical(def));
        }
        if parser.consume_token(&Token::Comma) {
            continue;
        }
        parser.expect_token(&Token::RParen)?;
        return Ok((columns, watermark, primary_key));
    }
}

fn parse_options(parser: &mut Parser) -> Result<Vec<TableOption>, ParserError> {
    parser.expect_token(&Token::LParen)?;
    let mut options = Vec::new();
    if parser.consume_token(&Token::RParen) {
        return Ok(options);
    }
    loop {
        let key_token = parser.next_token();
        let location = Location {
            line: key_token.span.start.line,
            column: key_token.span.start.column,
        };
        let key = match &key_token.token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s.clone(),
            Token::Word(w) => {
                // Unquoted dotted keys: csv.header
                let mut key = w.value.clone();
                while parser.consume_token(&Token::Period) {
                    key.push('.');
                    key.push_str(&parser.parse_identifier()?.value);
                }
                key
            }
            _ => return parser.expected("an option name such as 'connector'", key_token),
        };
        parser.expect_token(&Token::Eq)?;
        let value_token = parser.next_token();
        let value = match &value_token.token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s.clone(),
            Token::Number(n, _) => n.clone(),
            Token::Word(w) => w.value.clone(),
            _ => return parser.expected("an option value such as 'parquet'", value_token),
        };
        options.push(TableOption {
            key,
            value,
            location,
        });
        if parser.consume_token(&Token::Comma) {
            continue;
        }
        parser.expect_token(&Token::RParen)?;
        return Ok(options);
    }
}

fn is_word(token: &TokenWithSpan, word: &str) -> bool {
    matches!(&token.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIDS: &str = "CREATE TABLE bids (
  auction  BIGINT,
  price    DOUBLE NOT NULL,
  epoch_ms BIGINT,
  ts AS TO_TIMESTAMP_MILLIS(epoch_ms),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path'      = 'data/bids/',
  'format'    = 'parquet'
)";

    #[test]
    fn parses_flink_ddl() {
        let table = parse_create_table(BIDS).unwrap().unwrap();
        assert_eq!(table.table_name(), "bids");
        let names: Vec<_> = table.columns.iter().map(Column::name).collect();
        assert_eq!(names, ["auction", "price", "epoch_ms", "ts"]);
        assert!(matches!(table.columns[3], Column::Computed { .. }));
        let watermark = table.watermark.clone().unwrap();
        assert_eq!(watermark.column.value, "ts");
        assert_eq!(watermark.expr.to_string(), "ts - INTERVAL '5' SECOND");
        assert_eq!(table.option("format"), Some("parquet"));
        assert_eq!(table.option("path"), Some("data/bids/"));
        assert_eq!(table.options[1].location, Location { line: 9, column: 3 });
    }

    #[test]
    fn leaves_other_create_table_statements_to_datafusion() {
        for sql in [
            "CREATE TABLE t (a INT, b VARCHAR)",
            "CREATE TABLE t AS SELECT 1",
            "CREATE TABLE t (a INT) AS VALUES (1)",
            "SELECT 1",
            "CREATE VIEW v AS SELECT 1",
        ] {
            assert!(parse_create_table(sql).unwrap().is_none(), "{sql}");
        }
    }

    #[test]
    fn a_watermark_needs_a_connector() {
        let err = parse_create_table("CREATE TABLE t (ts TIMESTAMP, WATERMARK FOR ts AS ts)")
            .unwrap_err();
        assert!(err.to_string().contains("needs a connector"), "{err}");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse_create_table("CREATE TABLE t (a INT) WITH ('connector' 'x')").unwrap_err();
        assert_eq!(
            err.location(),
            Some(Location {
                line: 1,
                column: 42
            })
        );
    }
}
