//! Command-line arguments of the `flowsql` program.

use std::path::PathBuf;

use clap::Parser;

use super::Format;

/// flowsql: streaming SQL on Apache Arrow and DataFusion.
///
/// Without -f or -c, starts the interactive shell (or, when standard input
/// is not a terminal, runs it as a script).
#[derive(Debug, Parser)]
#[command(name = "flowsql", version, about, long_about = None)]
pub struct Args {
    /// Run the statements in FILE ('-' reads standard input); repeatable, run in order.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<String>,

    /// Run the statements in SQL and exit; repeatable, run before any -f files.
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    pub commands: Vec<String>,

    /// Result format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Where persisted state lives (models, checkpoints).
    #[arg(
        long,
        value_name = "DIR",
        env = "FLOWSQL_DATA_DIR",
        default_value = ".flowsql"
    )]
    pub data_dir: PathBuf,

    /// Confine every path statements name (sources, sinks, COPY, external
    /// tables, checkpoints) to DIR (or an object store URL prefix);
    /// repeatable. Without it, any path this process can read or write.
    #[arg(long = "allow-path", value_name = "DIR")]
    pub allow_paths: Vec<String>,

    /// No banners, timings or progress.
    #[arg(short, long)]
    pub quiet: bool,

    /// Keep running a script after a statement fails (the exit status is still 1).
    #[arg(long)]
    pub continue_on_error: bool,
}
