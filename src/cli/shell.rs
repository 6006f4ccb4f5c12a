//! The interactive shell: multi-line statements ending at `;`, history kept
//! between runs, meta commands, and Ctrl-C that cancels the running query
//! instead of the shell.

use std::path::PathBuf;

use flowsql::sql::ends_with_semicolon;
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

use super::meta::{self, Outcome};
use super::script::run_text;
use super::{CliError, Session};

/// Environment variable naming the history file.
pub const HISTORY_ENV: &str = "FLOWSQL_HISTORY";

const PROMPT: &str = "flowsql> ";
const CONTINUATION_PROMPT: &str = "      -> ";

/// Runs the shell until `\q` or Ctrl-D.
pub async fn run(session: &mut Session, quiet: bool) -> Result<(), CliError> {
    let mut editor = DefaultEditor::new().map_err(readline_error)?;
    let history = history_path();
    if let Some(path) = &history {
        // A missing history file is normal on the first run.
        let _ = editor.load_history(path);
    }
    if !quiet {
        println!(
            "flowsql {}: end statements with ';'. \\? for help, \\q to quit.",
            env!("CARGO_PKG_VERSION")
        );
    }
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            PROMPT
        } else {
            CONTINUATION_PROMPT
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                // Ctrl-C at the prompt drops the statement being typed.
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(err) => return Err(readline_error(err)),
        };
        if buffer.is_empty() && line.trim_start().starts_with('\\') {
            let command = line.trim();
            let _ = editor.add_history_entry(command);
            match meta::run(session, command).await? {
                Outcome::Continue => continue,
                Outcome::Quit => break,
            }
        }
        if buffer.is_empty() && line.trim().is_empty() {
            continue;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        // A statement ends only on a line holding a ';': tokenizing the
        // whole statement at every line would make a long paste quadratic.
        if line.contains(';') && ends_with_semicolon(&buffer) {
            let text = std::mem::take(&mut buffer);
            let _ = editor.add_history_entry(text.trim_end());
            run_cancellable(session, &text).await?;
        }
    }
    if let Some(path) = &history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(err) = editor.save_history(path) {
            eprintln!(
                "warning: could not save history to {}: {err}",
                path.display()
            );
        }
    }
    Ok(())
}

/// Runs `text`; Ctrl-C drops the running query (which cancels it) and
/// returns to the prompt.
async fn run_cancellable(session: &Session, text: &str) -> Result<(), CliError> {
    tokio::select! {
        result = run_text(session, "<shell>", text) => result.map(|_| ()),
        _ = tokio::signal::ctrl_c() => {
            eprintln!("query cancelled");
            Ok(())
        }
    }
}

/// `$FLOWSQL_HISTORY`, or `~/.flowsql_history`.
fn history_path() -> Option<PathBuf> {
    std::env::var_os(HISTORY_ENV)
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|home| home.join(".flowsql_history")))
}

fn readline_error(err: ReadlineError) -> CliError {
    match err {
        ReadlineError::Io(io) => CliError::Io(io),
        other => CliError::Io(std::io::Error::other(other.to_string())),
    }
}
