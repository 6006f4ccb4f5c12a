//! The `flowsql` program: command-line arguments, script files, the
//! interactive shell, its meta commands and result printing.
//!
//! The library does the work; this module owns presentation: how results and
//! errors look, and which exit status a run ends with.

pub mod args;
pub mod meta;
pub mod printer;
pub mod progress;
pub mod script;
pub mod shell;

use std::io;

use flowsql::{Engine, Location};

pub use printer::{Format, Printer};

/// Why a run of statements stopped.
#[derive(Debug)]
pub enum CliError {
    /// A statement failed; the message has been printed.
    Sql(flowsql::Error),
    /// Writing output failed (a closed pipe, a full disk).
    Io(io::Error),
}

impl From<flowsql::Error> for CliError {
    fn from(err: flowsql::Error) -> Self {
        CliError::Sql(err)
    }
}

impl From<io::Error> for CliError {
    fn from(err: io::Error) -> Self {
        CliError::Io(err)
    }
}

/// What one run of the program shares: the engine and how to print.
pub struct Session {
    /// The engine every statement runs on.
    pub engine: Engine,
    /// How results are printed.
    pub printer: Printer,
    /// Keep going after a failed statement.
    pub continue_on_error: bool,
    /// No banners, timings or progress.
    pub quiet: bool,
}

/// Waits for the engine's running jobs; Ctrl-C stops them cleanly. Returns
/// the exit status: 1 when a job failed.
pub async fn wait_for_jobs(engine: &Engine, quiet: bool) -> u8 {
    let jobs = engine.jobs();
    if jobs.list().is_empty() {
        return 0;
    }
    let metrics = jobs.list().into_iter().filter_map(|j| j.metrics).collect();
    let progress = progress::Progress::start(metrics, quiet);
    let finished = tokio::select! {
        finished = jobs.wait_all() => finished,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("stopping jobs");
            jobs.stop_all().await;
            jobs.list()
        }
    };
    drop(progress);
    let mut code = 0;
    for job in finished {
        if let flowsql::JobState::Failed(error) = &job.state {
            eprintln!("error: job {} failed: {error}", job.id);
            code = 1;
        }
    }
    code
}

/// Resolves when the process is asked to terminate (SIGTERM); never on a
/// platform without it.
pub async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            term.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await
}

/// Prints `err` the way compilers do: `SOURCE:LINE:COL: error: message`.
/// `start` is where the failing statement begins in the source; the error's
/// own location, relative to the statement, refines it.
pub fn report(source: &str, start: Location, err: &flowsql::Error) {
    let at = err
        .location()
        .map_or(start, |loc| flowsql::error::offset_location(loc, start));
    eprintln!("{source}:{at}: error: {err}");
}
