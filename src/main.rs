//! The `flowsql` program: wires the command line to the shell or the script
//! runner and maps the outcome to an exit status (0 success, 1 an SQL or
//! runtime error, 2 a usage error). A closed pipe ends the run quietly.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use cli::args::Args;
use cli::script::{read_script, run_text, source_name};
use cli::{CliError, Printer, Session};

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(err) => {
            // --help and --version print to stdout and succeed.
            let code = if err.use_stderr() { 2 } else { 0 };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("flowsql: cannot start the runtime: {err}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(run(args));
    // Ended by SIGTERM (the jobs stopped, so the run came to its end).
    let code = if TERMINATED.load(std::sync::atomic::Ordering::SeqCst) {
        143
    } else {
        code
    };
    // Don't wait for cancelled queries' tasks to notice.
    runtime.shutdown_background();
    ExitCode::from(code)
}

/// Set once SIGTERM has arrived: the run exits 143 (128 + 15).
static TERMINATED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

async fn run(args: Args) -> u8 {
    let engine = match flowsql::Engine::builder()
        .data_dir(&args.data_dir)
        .allow_paths(args.allow_paths.iter().cloned())
        .build()
        .await
    {
        Ok(engine) => engine,
        Err(err) => {
            eprintln!("flowsql: error: {err}");
            return 1;
        }
    };
    let mut session = Session {
        engine,
        printer: Printer {
            format: args.format,
            timing: false,
        },
        continue_on_error: args.continue_on_error,
        quiet: args.quiet,
    };
    let args_quiet = args.quiet;
    // SIGTERM (a service manager, `kill`) ends the run as Ctrl-C ends a
    // script's jobs: stopped cleanly, their sinks' open files published.
    let jobs = std::sync::Arc::clone(session.engine.jobs());
    tokio::spawn(async move {
        cli::terminated().await;
        TERMINATED.store(true, std::sync::atomic::Ordering::SeqCst);
        eprintln!("flowsql: terminated: stopping jobs");
        jobs.stop_all().await;
        std::process::exit(143);
    });
    let outcome = if !args.commands.is_empty() || !args.files.is_empty() {
        run_scripts(&session, &args).await
    } else if std::io::stdin().is_terminal() {
        let shell = cli::shell::run(&mut session, args.quiet).await.map(|()| 0);
        // Jobs end with the shell, their sinks flushed.
        session.engine.jobs().stop_all().await;
        shell
    } else {
        run_scripts(
            &session,
            &Args {
                files: vec!["-".to_string()],
                ..args
            },
        )
        .await
    };
    // A script waits for its jobs: bounded ones finish, unbounded ones run
    // until Ctrl-C stops them cleanly.
    let outcome = match outcome {
        Ok(code) => Ok(code.max(cli::wait_for_jobs(&session.engine, args_quiet).await)),
        other => other,
    };
    match outcome {
        Ok(code) => code,
        Err(CliError::Io(err)) if err.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(CliError::Io(err)) => {
            eprintln!("flowsql: error: {err}");
            1
        }
        Err(CliError::Sql(err)) => {
            eprintln!("flowsql: error: {err}");
            1
        }
    }
}

/// Runs the -c strings, then the -f files, stopping at the first failure
/// unless --continue-on-error is given.
async fn run_scripts(session: &Session, args: &Args) -> Result<u8, CliError> {
    let mut code = 0;
    for command in &args.commands {
        if !run_text(session, "<command>", command).await? {
            code = 1;
            if !session.continue_on_error {
                return Ok(code);
            }
        }
    }
    for path in &args.files {
        let text = match read_script(path) {
            Ok(text) => text,
            Err(err) => {
                eprintln!("flowsql: cannot read script '{}': {err}", source_name(path));
                return Ok(2);
            }
        };
        if !run_text(session, source_name(path), &text).await? {
            code = 1;
            if !session.continue_on_error {
                return Ok(code);
            }
        }
    }
    Ok(code)
}
