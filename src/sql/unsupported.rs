//! Flink SQL that flowsql does not support yet, recognized before parsing so
//! that the user gets one line naming the feature and what to write
//! instead, not the parser's "Expected: ), found: NOT" or a dump of the
//! syntax tree.
//!
//! Each feature is a short sequence of words (or symbols) looked for in the
//! statement's tokens, outside strings and comments.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::error::{Error, Location, Result};

/// A feature: the tokens that give it away, and what to tell the user.
struct Feature {
    /// Uppercase words, or symbols such as `<`, in order, consecutive.
    tokens: &'static [&'static str],
    /// Only in these statements (their first word), or any when empty.
    in_statement: &'static [&'static str],
    message: &'static str,
}

const FEATURES: &[Feature] = &[
    Feature {
        tokens: &["ROW", "<"],
        in_statement: &["CREATE"],
        message: "ROW<...> types are not supported yet; declare the fields as columns of \
                  their own, or read the value as a STRING and use JSON_VALUE",
    },
    Feature {
        tokens: &["MAP", "<"],
        in_statement: &["CREATE"],
        message: "MAP<...> types are not supported yet; read the value as a STRING and use \
                  JSON_VALUE",
    },
    Feature {
        tokens: &["MULTISET", "<"],
        in_statement: &["CREATE"],
        message: "MULTISET<...> types are not supported",
    },
    Feature {
        tokens: &["TIMESTAMP_LTZ"],
        in_statement: &["CREATE"],
        message: "TIMESTAMP_LTZ is not supported yet; declare TIMESTAMP(3) (flowsql takes \
                  timestamps as UTC)",
    },
    Feature {
        tokens: &["METADATA", "FROM"],
        in_statement: &["CREATE"],
        message: "metadata columns (METADATA FROM ...) are not supported yet; leave the \
                  column out",
    },
    Feature {
        tokens: &["METADATA", "VIRTUAL"],
        in_statement: &["CREATE"],
        message: "metadata columns (METADATA VIRTUAL) are not supported yet; leave the \
                  column out",
    },
    Feature {
        tokens: &["STATEMENT", "SET"],
        in_statement: &["EXECUTE", "BEGIN"],
        message: "statement sets (EXECUTE STATEMENT SET / BEGIN STATEMENT SET) are not \
                  supported yet; write each INSERT INTO as a statement of its own: each runs \
                  as a job",
    },
    Feature {
        tokens: &["MATCH_RECOGNIZE"],
        in_statement: &[],
        message: "MATCH_RECOGNIZE is not supported yet",
    },
    Feature {
        tokens: &["LATERAL", "TABLE"],
        in_statement: &[],
        message: "LATERAL TABLE(...) (table functions per row) is not supported yet; for \
                  arrays, use unnest(...)",
    },
];

/// Refuses `sql` when it uses a Flink feature flowsql does not support,
/// with a message naming it. SQL that does not tokenize is left to the
/// parser, which says where.
pub fn refuse_unsupported(sql: &str) -> Result<()> {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        return Ok(());
    };
    let significant: Vec<&TokenWithSpan> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let text = |t: &TokenWithSpan| match &t.token {
        Token::Word(w) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
        Token::Word(_) => String::new(),
        other => other.to_string(),
    };
    let words: Vec<String> = significant.iter().map(|t| text(t)).collect();
    let first = words.first().cloned().unwrap_or_default();
    // CREATE TABLE t2 LIKE t: LIKE right after the table's name.
    if let [create, table, _, like, ..] = words.as_slice() {
        if create == "CREATE" && table == "TABLE" && like == "LIKE" {
            return Err(at(
                significant[3],
                "CREATE TABLE ... LIKE is not supported yet; write the columns and options \
                 out",
            ));
        }
    }
    for feature in FEATURES {
        if !feature.in_statement.is_empty() && !feature.in_statement.contains(&first.as_str()) {
            continue;
        }
        let n = feature.tokens.len();
        if let Some(start) = (0..words.len().saturating_sub(n - 1))
            .find(|&i| (0..n).all(|k| words[i + k] == feature.tokens[k]))
        {
            return Err(at(significant[start], feature.message));
        }
    }
    Ok(())
}

fn at(token: &TokenWithSpan, message: &str) -> Error {
    Error::query_at(
        message,
        Some(Location {
            line: token.span.start.line,
            column: token.span.start.column,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_features_are_named() {
        for (sql, expected) in [
            ("CREATE TABLE t (a ROW<x INT>) WITH ()", "ROW<...> types"),
            (
                "CREATE TABLE t (a MAP<STRING, INT>) WITH ()",
                "MAP<...> types",
            ),
            (
                "CREATE TABLE t (a TIMESTAMP_LTZ(3)) WITH ()",
                "TIMESTAMP_LTZ",
            ),
            (
                "CREATE TABLE t (a INT, o BIGINT METADATA FROM 'offset') WITH ()",
                "metadata columns",
            ),
            ("CREATE TABLE t2 LIKE t", "CREATE TABLE ... LIKE"),
            (
                "EXECUTE STATEMENT SET BEGIN INSERT INTO a SELECT 1",
                "statement sets",
            ),
            (
                "SELECT * FROM t MATCH_RECOGNIZE (PARTITION BY a)",
                "MATCH_RECOGNIZE",
            ),
        ] {
            let err = refuse_unsupported(sql).unwrap_err().to_string();
            assert!(err.contains(expected), "{sql}: {err}");
        }
    }

    #[test]
    fn ordinary_sql_passes() {
        for sql in [
            "SELECT 'ROW<x>' AS a, a < b, row < 5 FROM t WHERE metadata = 1",
            "CREATE TABLE t (metadata VARCHAR) WITH ('format' = 'csv')",
            "CREATE TABLE t (a INT) WITH ('format' = 'csv')",
            "CREATE FUNCTION f(x INT) RETURNS INT RETURN x + 1",
            "CREATE TEMPORARY FUNCTION f AS 'com.example.F'",
            "SELECT * FROM t WHERE name LIKE 'a%'",
        ] {
            assert!(refuse_unsupported(sql).is_ok(), "{sql}");
        }
    }
}
