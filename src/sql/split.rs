//! Splits SQL text into statements, remembering where each one starts.
//!
//! Scripts, `-c` strings and shell input hold several statements separated by
//! `;`. The splitter tokenizes the text with sqlparser's tokenizer (so a `;`
//! inside a string or a comment does not end a statement) and returns each
//! statement's text with the [`Location`] of its first token, which is what
//! lets an error inside the statement be reported as `FILE:LINE:COL`.
//! Hints (`/*+ ... */`) are refused here, the one place that sees comments.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

use crate::error::{Error, Location, Result};

/// One statement of a larger SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlStatement {
    /// The statement's text, without the closing `;`.
    pub text: String,
    /// Where the statement's first token is in the enclosing text.
    pub start: Location,
}

/// Splits `sql` into its statements; empty statements (`;;`) are skipped.
///
/// A tokenizer error (an unterminated string or comment) is a query error at
/// the position the tokenizer reports.
pub fn split_statements(sql: &str) -> Result<Vec<SqlStatement>> {
    let tokens = tokenize(sql)?;
    refuse_hints(&tokens)?;
    check_operator_chains(&tokens)?;
    let lines = LineIndex::new(sql);
    let mut statements = Vec::new();
    let mut first: Option<&TokenWithSpan> = None;
    let mut last: Option<&TokenWithSpan> = None;
    for token in &tokens {
        match &token.token {
            Token::Whitespace(_) | Token::EOF => {}
            Token::SemiColon => {
                if let (Some(first), Some(last)) = (first.take(), last.take()) {
                    statements.push(statement(sql, &lines, first, last));
                }
            }
            _ => {
                first.get_or_insert(token);
                last = Some(token);
            }
        }
    }
    if let (Some(first), Some(last)) = (first, last) {
        statements.push(statement(sql, &lines, first, last));
    }
    Ok(statements)
}

/// True when `sql` holds at least one statement and ends with a `;` (outside
/// strings and comments): the shell's rule for "input is complete".
pub fn ends_with_semicolon(sql: &str) -> bool {
    let Ok(tokens) = tokenize(sql) else {
        // An unterminated string or comment: the user is still typing.
        return false;
    };
    tokens
        .iter()
        .rev()
        .find(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
        .is_some_and(|t| t.token == Token::SemiColon)
}

/// Refuses hints (`/*+ OPTIONS(...) */`, Flink's dynamic table options and
/// query hints): to the parser they are comments, so they would be ignored
/// without a word.
fn refuse_hints(tokens: &[TokenWithSpan]) -> Result<()> {
    for token in tokens {
        if let Token::Whitespace(Whitespace::MultiLineComment(comment)) = &token.token {
            if comment.starts_with('+') {
                return Err(Error::query_at(
                    format!(
                        "hints such as /*{} */ are not supported yet (they would be ignored); \
                         for OPTIONS, create a table with those options instead: \
                         CREATE TABLE ... WITH (...)",
                        comment.trim_end()
                    ),
                    Some(Location {
                        line: token.span.start.line,
                        column: token.span.start.column,
                    }),
                ));
            }
        }
    }
    Ok(())
}

/// The most binary operators one expression may chain at one level of
/// parentheses (`1 + 1 + ...`, `a OR b OR ...`, `'a' || 'b' || ...`):
/// chosen to plan and run on a 2 MiB thread stack (a Tokio worker's) even
/// in a debug build, where 300 overflowed it.
pub const MAX_OPERATOR_CHAIN: usize = 100;

/// Refuses expressions chaining more than [`MAX_OPERATOR_CHAIN`] operators
/// at one level: they parse into a tree as deep as the chain is long, and
/// DataFusion clones, plans and evaluates expression trees recursively, so
/// a chain of thousands would overflow the stack and abort the process.
fn check_operator_chains(tokens: &[TokenWithSpan]) -> Result<()> {
    // Operators so far in the current expression, per open parenthesis.
    let mut chains: Vec<usize> = vec![0];
    for token in tokens {
        match token.token {
            Token::LParen => chains.push(0),
            Token::RParen => {
                chains.pop();
                if chains.is_empty() {
                    // An unmatched ')': the parser will say where.
                    chains.push(0);
                }
            }
            _ => {}
        }
        let Some(chain) = chains.last_mut() else {
            break;
        };
        match &token.token {
            Token::Comma | Token::SemiColon => *chain = 0,
            Token::Word(w) if w.quote_style.is_none() => {
                match w.value.to_ascii_uppercase().as_str() {
                    "AND" | "OR" | "LIKE" | "IS" => *chain += 1,
                    "SELECT" | "FROM" | "WHERE" | "GROUP" | "ORDER" | "HAVING" | "ON" | "WHEN"
                    | "THEN" | "ELSE" | "END" | "AS" | "UNION" | "LIMIT" | "JOIN" => *chain = 0,
                    _ => {}
                }
            }
            Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div
            | Token::Mod
            | Token::StringConcat
            | Token::Eq
            | Token::DoubleEq
            | Token::Neq
            | Token::Lt
            | Token::Gt
            | Token::LtEq
            | Token::GtEq
            | Token::Ampersand
            | Token::Pipe
            | Token::Caret
            | Token::ShiftLeft
            | Token::ShiftRight => *chain += 1,
            _ => {}
        }
        if chains.last().is_some_and(|&c| c > MAX_OPERATOR_CHAIN) {
            return Err(Error::query_at(
                format!(
                    "this expression chains more than {MAX_OPERATOR_CHAIN} operators, the most \
                     flowsql plans; write long OR chains as IN (...), long || chains as \
                     concat(...), or split the expression"
                ),
                Some(Location {
                    line: token.span.start.line,
                    column: token.span.start.column,
                }),
            ));
        }
    }
    Ok(())
}

fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>> {
    Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| {
            Error::query_at(
                e.message,
                Some(Location {
                    line: e.location.line,
                    column: e.location.column,
                }),
            )
        })
}

fn statement(
    sql: &str,
    lines: &LineIndex,
    first: &TokenWithSpan,
    last: &TokenWithSpan,
) -> SqlStatement {
    let start = lines.byte_offset(sql, first.span.start.line, first.span.start.column);
    let end = lines.byte_offset(sql, last.span.end.line, last.span.end.column);
    SqlStatement {
        text: sql[start..end].to_string(),
        start: Location {
            line: first.span.start.line,
            column: first.span.start.column,
        },
    }
}

/// Maps the tokenizer's (line, column) positions back to byte offsets.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// The byte offset of 1-based `line` and `column` (columns count chars).
    fn byte_offset(&self, text: &str, line: u64, column: u64) -> usize {
        let Some(&line_start) = self.starts.get(line.saturating_sub(1) as usize) else {
            return text.len();
        };
        text[line_start..]
            .char_indices()
            .nth(column.saturating_sub(1) as usize)
            .map_or(text.len(), |(i, _)| line_start + i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_locates_statements() {
        let sql = "SELECT 1;\n-- a comment; with a semicolon\n  SELECT ';' AS s ;\n\nSELECT\n  2";
        let statements = split_statements(sql).unwrap();
        let texts: Vec<_> = statements.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["SELECT 1", "SELECT ';' AS s", "SELECT\n  2"]);
        assert_eq!(statements[1].start, Location { line: 3, column: 3 });
        assert_eq!(statements[2].start, Location { line: 5, column: 1 });
    }

    #[test]
    fn skips_empty_statements() {
        assert!(split_statements(" ;; -- nothing\n").unwrap().is_empty());
    }

    #[test]
    fn knows_when_input_is_complete() {
        assert!(ends_with_semicolon("SELECT 1;  "));
        assert!(!ends_with_semicolon("SELECT 1"));
        assert!(!ends_with_semicolon("SELECT ';"));
        assert!(ends_with_semicolon("SELECT 1; -- done"));
    }

    #[test]
    fn reports_unterminated_strings_with_position() {
        let err = split_statements("SELECT 1;\nSELECT 'abc").unwrap_err();
        assert_eq!(err.location().map(|l| l.line), Some(2));
    }
}
