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

/// The largest script read (`-f /dev/zero` would read for ever).
pub const MAX_SCRIPT_BYTES: u64 = 64 << 20;

/// Reads a script file (`-` is standard input), at most
/// [`MAX_SCRIPT_BYTES`].
pub fn read_script(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let reader: Box<dyn Read> = if path == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path)?)
    };
    let mut bytes = Vec::new();
    reader.take(MAX_SCRIPT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SCRIPT_BYTES {
        return Err(std::io::Error::other(format!(
            "it is larger than {} MiB; split it into several scripts",
            MAX_SCRIPT_BYTES >> 20
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"))
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
                    .print(stream, session.quiet, session.engine.result_mode())
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
