//! The shell's meta commands: `\q`, `\?`, `\d`, `\d NAME`, `\timing`,
//! `\format FMT`, `\i FILE`.

use clap::ValueEnum;

use super::script::{read_script, run_text};
use super::{CliError, Format, Session};

/// What the shell does after a meta command.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Read the next line.
    Continue,
    /// Leave the shell.
    Quit,
}

const HELP: &str = "\
Statements end with ';' and may span lines. Meta commands:
  \\q            quit (Ctrl-D also quits)
  \\?            this help
  \\d            list tables, models and jobs
  \\d NAME       describe table NAME
  \\timing       toggle printing of row counts and elapsed time
  \\format FMT   print results as table, csv, tsv, json or ndjson
  \\i FILE       run the statements in FILE
Ctrl-C cancels the running query; at the prompt it clears the input.";

/// Runs one meta command line (starting with `\`).
pub async fn run(session: &mut Session, line: &str) -> Result<Outcome, CliError> {
    let (command, argument) = match line.split_once(char::is_whitespace) {
        Some((command, argument)) => (command, argument.trim()),
        None => (line, ""),
    };
    match (command, argument) {
        ("\\q", _) => return Ok(Outcome::Quit),
        ("\\?" | "\\h" | "\\help", _) => println!("{HELP}"),
        ("\\d", "") => {
            run_text(
                session,
                "\\d",
                "SELECT table_name AS name, table_type AS type FROM information_schema.tables \
                 WHERE table_schema <> 'information_schema' ORDER BY table_name",
            )
            .await?;
            if !session.engine.models().names()?.is_empty() {
                run_text(session, "\\d", "SHOW MODELS").await?;
            }
            if !session.engine.jobs().list().is_empty() {
                run_text(session, "\\d", "SHOW JOBS").await?;
            }
        }
        ("\\d", name) => describe(session, name).await?,
        ("\\timing", _) => {
            session.printer.timing = !session.printer.timing;
            let state = if session.printer.timing { "on" } else { "off" };
            println!("timing is {state}");
        }
        ("\\format", "") => println!("format is {:?}", session.printer.format),
        ("\\format", name) => match Format::from_str(name, true) {
            Ok(format) => session.printer.format = format,
            Err(_) => {
                eprintln!("error: unknown format '{name}': use table, csv, tsv, json or ndjson")
            }
        },
        ("\\i", "") => eprintln!("error: \\i needs a file name"),
        ("\\i", path) => match read_script(path) {
            Ok(text) => {
                run_text(session, path, &text).await?;
            }
            Err(err) => eprintln!("error: cannot read '{path}': {err}"),
        },
        _ => eprintln!("error: unknown command {command}; \\? lists the commands"),
    }
    Ok(Outcome::Continue)
}

/// `\d NAME`: the columns, and for connector tables their declaration.
async fn describe(session: &Session, name: &str) -> Result<(), CliError> {
    if !run_text(session, "\\d", &format!("DESCRIBE {name}")).await? {
        return Ok(());
    }
    if let Some(definition) = session.engine.table_definition(name).await {
        for option in &definition.options {
            println!("{}: {}", option.key, option.value);
        }
        if let Some(watermark) = &definition.watermark {
            println!("watermark: FOR {} AS {}", watermark.column, watermark.expr);
        }
    }
    Ok(())
}
