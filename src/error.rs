//! The one error type of flowsql, whose variants say whose fault an error is.
//!
//! Every error the library returns is an [`Error`]. Its variant tells the
//! caller who has to act: the author of the query ([`Error::Query`]), the
//! owner of the data ([`Error::Data`]), whoever runs an external system such as
//! an object store or a socket peer ([`Error::External`]), or flowsql's own
//! developers ([`Error::Internal`]). Errors in a query carry the position of
//! the offending token when the parser or the planner knows it, relative to
//! the SQL text handed to the engine; the CLI turns that into `FILE:LINE:COL`.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;

/// A position in SQL text: line and column, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    /// Line, from 1.
    pub line: u64,
    /// Column, from 1 (in characters).
    pub column: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Whose fault an error is, and what went wrong.
#[derive(Debug, Clone)]
pub enum Error {
    /// The SQL is wrong: a syntax error, an unknown table or column, a type
    /// mismatch, or something flowsql does not support. Fix the query.
    Query {
        /// What is wrong and, where possible, what to do about it.
        message: String,
        /// Where in the SQL text the problem is, when known.
        location: Option<Location>,
    },
    /// The data is wrong: a malformed record, a file whose columns do not
    /// match the table's declaration, a value that cannot be cast.
    Data(String),
    /// Something outside flowsql failed: a file or object store that cannot
    /// be read, a network peer, missing credentials, exhausted resources.
    External(String),
    /// A bug in flowsql or in DataFusion. Please report it.
    Internal(String),
}

/// The result type of every fallible flowsql function.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error in the query, without a position.
    pub fn query(message: impl Into<String>) -> Self {
        Error::Query {
            message: message.into(),
            location: None,
        }
    }

    /// An error in the query at `location` (relative to the SQL text).
    pub fn query_at(message: impl Into<String>, location: Option<Location>) -> Self {
        Error::Query {
            message: message.into(),
            location,
        }
    }

    /// The position in the SQL text this error points at, if any.
    pub fn location(&self) -> Option<Location> {
        match self {
            Error::Query { location, .. } => *location,
            _ => None,
        }
    }

    /// The same error with its location moved by the start of the statement
    /// it came from, so that it points into the enclosing script.
    pub fn offset_by(self, start: Location) -> Self {
        match self {
            Error::Query {
                message,
                location: Some(loc),
            } => Error::Query {
                message,
                location: Some(offset_location(loc, start)),
            },
            other => other,
        }
    }
}

impl Error {
    /// The internal error for a panic caught in `what` (a query, a job, an
    /// operator task), with the panic's message.
    pub fn from_panic(what: &str, payload: Box<dyn Any + Send>) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|m| m.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_string());
        Error::Internal(format!("{what} panicked: {message}"))
    }
}

/// Runs `future`, turning a panic inside it into an [`Error::Internal`]
/// naming `what`: no panic in a query's task reaches the user as a silent
/// end of its rows.
pub(crate) async fn catch_panic<T>(
    what: impl fmt::Display,
    future: impl Future<Output = Result<T>>,
) -> Result<T> {
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => Err(Error::from_panic(&what.to_string(), payload)),
    }
}

/// The first line of a statement, shortened, to name it in a message.
pub(crate) fn statement_excerpt(sql: &str) -> String {
    let flat = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(80) {
        Some((at, _)) => format!("{}...", &flat[..at]),
        None => flat,
    }
}

/// Moves `loc`, relative to a statement starting at `start`, into the
/// coordinates of the enclosing text.
pub fn offset_location(loc: Location, start: Location) -> Location {
    if loc.line == 1 {
        Location {
            line: start.line,
            column: start.column + loc.column - 1,
        }
    } else {
        Location {
            line: start.line + loc.line - 1,
            column: loc.column,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Query { message, .. } => f.write_str(message),
            Error::Data(message) => write!(f, "bad data: {message}"),
            Error::External(message) => f.write_str(message),
            Error::Internal(message) => write!(
                f,
                "internal error (a bug, please report it with the query): {message}"
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Self {
        Error::External(e.to_string())
    }
}

impl From<DataFusionError> for Error {
    fn from(err: DataFusionError) -> Self {
        // A diagnostic (collected when span collection is on) carries the
        // position of the offending token.
        let location = err
            .diagnostic()
            .and_then(|d| d.span)
            .filter(|span| span.start.line > 0)
            .map(|span| Location {
                line: span.start.line,
                column: span.start.column,
            });
        classify(&err, location)
    }
}

fn classify(err: &DataFusionError, location: Option<Location>) -> Error {
    match err {
        DataFusionError::Diagnostic(_, inner) => classify(inner, location),
        DataFusionError::Shared(inner) => classify(inner, location),
        DataFusionError::Collection(errs) if !errs.is_empty() => classify(&errs[0], location),
        DataFusionError::Context(context, inner) => match classify(inner, location) {
            Error::Query { message, location } => Error::Query {
                message: format!("{context}: {message}"),
                location,
            },
            Error::Data(m) => Error::Data(format!("{context}: {m}")),
            Error::External(m) => Error::External(format!("{context}: {m}")),
            Error::Internal(m) => Error::Internal(format!("{context}: {m}")),
        },
        DataFusionError::SQL(parser_error, _) => from_parser_error((**parser_error).clone()),
        DataFusionError::Plan(m)
        | DataFusionError::NotImplemented(m)
        | DataFusionError::Configuration(m) => Error::query_at(without_far_suggestion(m), location),
        // DataFusion reports most failures of a statement's meaning at run
        // time (an existing table, a failed cast) as Execution; malformed
        // input arrives as Arrow or Parquet errors.
        DataFusionError::Execution(m) => Error::query_at(m.clone(), location),
        DataFusionError::SchemaError(e, _) => Error::query_at(e.to_string(), location),
        DataFusionError::ArrowError(e, _) => Error::Data(e.to_string()),
        DataFusionError::ParquetError(e) => Error::Data(e.to_string()),
        DataFusionError::ObjectStore(e) => Error::External(e.to_string()),
        DataFusionError::IoError(e) => Error::External(e.to_string()),
        DataFusionError::ResourcesExhausted(m) => Error::External(m.clone()),
        DataFusionError::External(e) => {
            if let Some(flowsql_error) = e.downcast_ref::<Error>() {
                flowsql_error.clone()
            } else if let Some(inner) = e.downcast_ref::<DataFusionError>() {
                classify(inner, location)
            } else {
                Error::External(e.to_string())
            }
        }
        DataFusionError::Internal(m) => Error::Internal(m.clone()),
        other => Error::Internal(other.strip_backtrace()),
    }
}

/// DataFusion's "Invalid function 'x'.\nDid you mean 'y'?" suggests the
/// nearest name it knows, however far (`range` for `dayname`): the
/// suggestion is kept only when it is a likely typo, a few edits away.
fn without_far_suggestion(message: &str) -> String {
    let quoted = |text: &str, after: &str| -> Option<String> {
        let start = text.find(after)? + after.len();
        let end = text[start..].find('\'')? + start;
        Some(text[start..end].to_string())
    };
    let (Some(name), Some(suggestion)) = (
        quoted(message, "Invalid function '"),
        quoted(message, "Did you mean '"),
    ) else {
        return message.to_string();
    };
    let distance = datafusion::common::utils::datafusion_strsim::levenshtein(&name, &suggestion);
    if distance <= (name.chars().count() / 3).max(1) {
        return message.to_string();
    }
    match message.find("\nDid you mean") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// Turns a sqlparser error, which ends with "at Line: L, Column: C" when the
/// position is known, into a query error with a location.
pub(crate) fn from_parser_error(err: ParserError) -> Error {
    let text = match err {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m,
        ParserError::RecursionLimitExceeded => {
            "the query is nested too deeply to parse".to_string()
        }
    };
    match text.rfind(" at Line: ") {
        Some(at) => {
            let location = parse_line_column(&text[at + " at Line: ".len()..]);
            let message = text[..at].to_string();
            Error::query_at(message, location)
        }
        None => Error::query(text),
    }
}

fn parse_line_column(s: &str) -> Option<Location> {
    let (line, rest) = s.split_once(", Column: ")?;
    let column: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some(Location {
        line: line.trim().parse().ok()?,
        column: column.parse().ok()?,
    })
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::External(err.to_string())
    }
}

impl From<datafusion::arrow::error::ArrowError> for Error {
    fn from(err: datafusion::arrow::error::ArrowError) -> Self {
        Error::Data(err.to_string())
    }
}

/// Lets flowsql errors travel through DataFusion (for example out of a
/// `TableProvider`) and come back out unchanged.
impl From<Error> for DataFusionError {
    fn from(err: Error) -> Self {
        DataFusionError::External(Box::new(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_errors_keep_their_position() {
        let err = from_parser_error(ParserError::ParserError(
            "Expected: end of statement, found: FORM at Line: 2, Column: 10".into(),
        ));
        assert_eq!(
            err.location(),
            Some(Location {
                line: 2,
                column: 10
            })
        );
        assert_eq!(err.to_string(), "Expected: end of statement, found: FORM");
    }

    #[test]
    fn only_near_suggestions_are_kept() {
        let far = "Invalid function 'dayname'.\nDid you mean 'range'?";
        assert_eq!(without_far_suggestion(far), "Invalid function 'dayname'.");
        let near = "Invalid function 'to_datex'.\nDid you mean 'to_date'?";
        assert_eq!(without_far_suggestion(near), near);
    }

    #[test]
    fn offsets_move_into_the_script() {
        let start = Location { line: 3, column: 5 };
        assert_eq!(
            offset_location(Location { line: 1, column: 8 }, start),
            Location {
                line: 3,
                column: 12
            }
        );
        assert_eq!(
            offset_location(Location { line: 2, column: 8 }, start),
            Location { line: 4, column: 8 }
        );
    }
}
