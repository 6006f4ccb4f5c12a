//! Running SQL text non-interactively: script files, `-c` strings, `\i`.

use flowsql::sql::split_statements;
use flowsql::Location;

use super::{report, CliError, Session};

/// Where statements come from, for error messages.
pub fn source_name(path: &str) -> &str {
    if path == "-" {
        "<stdin>"
    } else {
        path
    }
}

/// Reads a script file (`-` is standard input).
pub fn read_script(path: &str) -> std::io::Result<String> {
    if path == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
}

/// Runs every statement of `text`, printing results as they come and errors
/// as `SOURCE:LINE:COL: error: ...`. Returns `Ok(false)` when a statement
/// failed (and, without `--continue-on-error`, stopped the run).
pub async fn run_text(session: &Session, source: &str, text: &str) -> Result<bool, CliError> {
    let statements = match split_statements(text) {
        Ok(statements) => statements,
        Err(err) => {
            report(source, Location { line: 1, column: 1 }, &err);
            return Ok(false);
        }
    };
    let mut ok = true;
    for statement in statements {
        let result = match session.engine.query(&statement.text).await {
            Ok(stream) => {
                let metrics = stream.metrics();
                let printed = session
                    .printer
                    .print(stream, session.quiet)
                    .await
                    .map(|_| ());
                if let Some(metrics) = metrics {
                    let late = metrics.late_rows();
                    if late > 0 {
                        eprintln!(
                            "{source}:{}: warning: {late} late row(s) dropped: \
                             their windows had already been emitted",
                            statement.start
                        );
                    }
                    let malformed = metrics.malformed();
                    if malformed > 0 {
                        eprintln!(
                            "{source}:{}: warning: {malformed} malformed record(s) skipped",
                            statement.start
                        );
                    }
                }
                printed
            }
            Err(err) => Err(CliError::Sql(err)),
        };
        match result {
            Ok(()) => {}
            Err(CliError::Sql(err)) => {
                report(source, statement.start, &err);
                ok = false;
                if !session.continue_on_error {
                    break;
                }
            }
            Err(io) => return Err(io),
        }
    }
    Ok(ok)
}
