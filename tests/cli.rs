//! The `flowsql` program run as a real process: `-c`, `-f`, every
//! `--format`, error positions, exit statuses, a closed pipe, and the
//! interactive shell driven through a pseudo-terminal.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_flowsql");

fn flowsql(args: &[&str]) -> Output {
    let data_dir = tempfile::tempdir().unwrap();
    Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run flowsql")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn script(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.sql");
    std::fs::write(&path, text).unwrap();
    (dir, path.to_string_lossy().into_owned())
}

#[test]
fn command_prints_csv_with_a_header() {
    let output = flowsql(&["--format", "csv", "-c", "SELECT 40 + 2 AS answer"]);
    assert_eq!(stdout(&output), "answer\n42\n");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

const TWO_ROWS: &str =
    "SELECT * FROM (VALUES (1, 'a,b', 2.5), (2, NULL, NULL)) AS t(id, name, score) ORDER BY id";

#[test]
fn every_format_prints_the_same_rows() {
    let expected = [
        (
            "table",
            "+----+------+-------+\n\
             | id | name | score |\n\
             +----+------+-------+\n\
             | 1  | a,b  | 2.5   |\n\
             | 2  |      |       |\n\
             +----+------+-------+\n",
        ),
        ("csv", "id,name,score\n1,\"a,b\",2.5\n2,,\n"),
        ("tsv", "id\tname\tscore\n1\ta,b\t2.5\n2\t\t\n"),
        (
            "json",
            "[{\"id\":1,\"name\":\"a,b\",\"score\":2.5},{\"id\":2}]\n",
        ),
        (
            "ndjson",
            "{\"id\":1,\"name\":\"a,b\",\"score\":2.5}\n{\"id\":2}\n",
        ),
    ];
    for (format, want) in expected {
        let output = flowsql(&["--format", format, "-c", TWO_ROWS]);
        assert_eq!(stdout(&output), want, "format {format}");
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    }
}

#[test]
fn empty_results_still_show_their_columns() {
    let query = "SELECT 1 AS a WHERE false";
    assert_eq!(stdout(&flowsql(&["--format", "csv", "-c", query])), "a\n");
    assert_eq!(stdout(&flowsql(&["--format", "json", "-c", query])), "[]\n");
    assert_eq!(stdout(&flowsql(&["--format", "ndjson", "-c", query])), "");
}

#[test]
fn a_failing_line_of_a_script_is_reported_with_its_position() {
    let (_dir, path) = script(
        "SELECT 1 AS one;\n\
         -- the next statement spans two lines\n\
         SELECT 2 AS two,\n       prcie FROM (SELECT 1 AS price);\n\
         SELECT 3 AS three;\n",
    );
    let output = flowsql(&["--format", "csv", "-f", &path]);
    assert_eq!(output.status.code(), Some(1));
    // The first statement ran; the third never did.
    assert_eq!(stdout(&output), "one\n1\n");
    let err = stderr(&output);
    assert!(
        err.starts_with(&format!(
            "{path}:4:8: error: No field named prcie. Did you mean 'price'?"
        )),
        "{err}"
    );
}

#[test]
fn syntax_errors_point_at_the_token() {
    let (_dir, path) = script("SELECT 1;\n\nSELECT * FORM t;\n");
    let output = flowsql(&["-f", &path]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.starts_with(&format!("{path}:3:10: error: ")), "{err}");
    assert!(err.contains("FORM"), "{err}");
}

#[test]
fn continue_on_error_runs_the_rest_and_still_fails() {
    let (_dir, path) = script("SELECT nope;\nSELECT 2 AS two;\n");
    let output = flowsql(&["--format", "csv", "--continue-on-error", "-f", &path]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "two\n2\n");
    assert!(stderr(&output).starts_with(&format!("{path}:1:8: error:")));
}

#[test]
fn scripts_run_in_order_and_dash_reads_stdin() {
    let (_dir, path) = script("CREATE VIEW v AS SELECT 5 AS x;");
    let mut child = Command::new(BIN)
        .args(["--format", "csv", "-f", &path, "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT x * 2 AS y FROM v;")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(stdout(&output), "y\n10\n", "{}", stderr(&output));
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--bogus"][..],
        &["--format", "xml", "-c", "SELECT 1"],
        &["-f", "/no/such/script.sql"],
    ] {
        let output = flowsql(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(!stderr(&output).is_empty());
    }
}

#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    let mut child = Command::new(BIN)
        .args([
            "--format",
            "csv",
            "-c",
            "SELECT value FROM generate_series(1, 5000000)",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    lines.read_line(&mut first).unwrap();
    assert_eq!(first, "value\n");
    drop(lines); // like `| head -1`
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stderr(&output), "");
}

#[test]
fn flink_tables_over_csv_and_parquet_answer_group_by() {
    let query = "
        CREATE TABLE csv_bids (auction BIGINT, price DOUBLE, ts TIMESTAMP(3))
        WITH ('connector' = 'filesystem', 'path' = 'data/bids.csv', 'format' = 'csv');
        CREATE TABLE parquet_bids (auction BIGINT, price DOUBLE, ts TIMESTAMP(3))
        WITH ('connector' = 'filesystem', 'path' = 'data/bids/', 'format' = 'parquet');
        SELECT c.auction, c.n, p.n AS pn FROM
          (SELECT auction, COUNT(*) AS n FROM csv_bids GROUP BY auction) c
          JOIN (SELECT auction, COUNT(*) AS n FROM parquet_bids GROUP BY auction) p
          ON c.auction = p.auction
        ORDER BY c.auction";
    let output = flowsql(&["--format", "csv", "-c", query]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "auction,n,pn");
    assert_eq!(rows.len(), 9, "{text}");
    // Oracle: count the CSV rows per auction directly.
    let csv = std::fs::read_to_string("data/bids.csv").unwrap();
    for row in &rows[1..] {
        let fields: Vec<&str> = row.split(',').collect();
        let direct = csv
            .lines()
            .skip(1)
            .filter(|l| l.split(',').next() == Some(fields[0]))
            .count();
        assert_eq!(fields[1], direct.to_string(), "{row}");
        assert_eq!(fields[2], direct.to_string(), "{row}");
    }
}

#[test]
fn late_rows_are_dropped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("data/clicks.csv", dir.path().join("part-1.csv")).unwrap();
    // Read after the first file, and a minute behind it: its window was
    // emitted long before.
    std::fs::write(
        dir.path().join("part-2.csv"),
        "user,url,ts\ndave,/home,2026-01-01T09:59:00\n",
    )
    .unwrap();
    let sql = format!(
        "CREATE TABLE clicks (user VARCHAR, url VARCHAR, ts TIMESTAMP(3),
           WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
         WITH ('connector' = 'filesystem', 'path' = '{}/', 'format' = 'csv');
         SELECT window_start, COUNT(*) AS n
         FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
         GROUP BY window_start, window_end;",
        dir.path().display()
    );
    let output = flowsql(&["--format", "csv", "-c", &sql]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // Dave's click is not counted, and the warning says so.
    assert_eq!(stdout(&output), "window_start,n\n2026-01-01T10:00:00,10\n");
    assert!(
        stderr(&output).contains("warning: 1 late row(s) dropped"),
        "{}",
        stderr(&output)
    );
    // No progress line in a pipe.
    assert!(!stderr(&output).contains("rows/s"), "{}", stderr(&output));
}

#[test]
fn every_example_script_runs() {
    let mut scripts: Vec<_> = ["sql-examples", "sql-examples/nexmark"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    scripts.sort();
    assert!(!scripts.is_empty());
    // Run where the scripts' relative paths find the bundled data, but
    // what they write (q10's partitioned files) lands outside the tree.
    let cwd = tempfile::tempdir().unwrap();
    let root = std::env::current_dir().unwrap();
    std::os::unix::fs::symlink(root.join("data"), cwd.path().join("data")).unwrap();
    for path in scripts {
        let data_dir = tempfile::tempdir().unwrap();
        let output = Command::new(BIN)
            .current_dir(cwd.path())
            .arg("-q")
            .arg("-f")
            .arg(root.join(&path))
            .arg("--data-dir")
            .arg(data_dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run flowsql");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            stderr(&output)
        );
        assert!(
            !stdout(&output).is_empty(),
            "{} printed nothing",
            path.display()
        );
    }
}

mod shell {
    use super::BIN;
    use rexpect::reader::Options;
    use rexpect::session::{spawn_with_options, PtySession};
    use std::process::Command;

    fn start(history: &std::path::Path) -> PtySession {
        start_as(history, "dumb")
    }

    /// The shell in a terminal of type `term` (`dumb` makes the line
    /// editor read plain lines; `xterm` makes it edit them).
    fn start_as(history: &std::path::Path, term: &str) -> PtySession {
        let mut command = Command::new(BIN);
        command
            .env("FLOWSQL_HISTORY", history)
            .env("TERM", term)
            .args(["--format", "csv"]);
        spawn_with_options(
            command,
            Options {
                timeout_ms: Some(60_000),
                strip_ansi_escape_codes: true,
            },
        )
        .expect("start the shell in a pseudo-terminal")
    }

    #[test]
    fn shell_takes_multi_line_statements_survives_ctrl_c_and_quits() {
        let dir = tempfile::tempdir().unwrap();
        let history = dir.path().join("history");
        let mut shell = start(&history);
        shell.exp_string("flowsql> ").unwrap();

        // A statement typed over two lines.
        shell.send_line("SELECT 40 + 2").unwrap();
        shell.exp_string("-> ").unwrap();
        shell.send_line("  AS answer;").unwrap();
        shell.exp_string("answer\r\n42").unwrap();
        shell.exp_string("flowsql> ").unwrap();

        // Ctrl-C cancels a long query and keeps the shell.
        shell
            .send_line("SELECT COUNT(*) FROM generate_series(1, 100000000000);")
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        shell.send_control('c').unwrap();
        shell.exp_string("query cancelled").unwrap();
        shell.exp_string("flowsql> ").unwrap();
        shell.send_line("SELECT 6 * 7 AS still_here;").unwrap();
        shell.exp_string("still_here\r\n42").unwrap();

        // Meta commands, then \q.
        shell.exp_string("flowsql> ").unwrap();
        shell.send_line("\\timing").unwrap();
        shell.exp_string("timing is on").unwrap();
        shell.send_line("\\q").unwrap();
        shell.exp_eof().unwrap();

        // History is kept between runs.
        let saved = std::fs::read_to_string(&history).unwrap();
        assert!(saved.contains("AS still_here;"), "{saved}");
    }

    /// In an editing terminal: lines typed ahead in one write, without
    /// waiting for the prompts (the line editor of flowsql 0.1 dropped
    /// every line after the first: rustyline's issue 690), and a 1 MB
    /// line pasted as terminals paste (bracketed).
    #[test]
    fn shell_takes_typed_ahead_lines_and_a_large_paste() {
        let dir = tempfile::tempdir().unwrap();
        let mut shell = start_as(&dir.path().join("history"), "xterm");
        shell.exp_string("flowsql> ").unwrap();
        let typed = format!(
            "SELECT length('{}') AS typed;\nSELECT 7 * 6 AS after;\n",
            "ab\n".repeat(300)
        );
        shell.send(&typed).unwrap();
        shell.flush().unwrap();
        shell.exp_string("typed\r\n900").unwrap();
        shell.exp_string("after\r\n42").unwrap();
        let pasted = format!(
            "\x1b[200~SELECT length('{}') AS pasted;\x1b[201~\r",
            "a".repeat(1_000_000)
        );
        shell.send(&pasted).unwrap();
        shell.flush().unwrap();
        shell.exp_string("pasted\r\n1000000").unwrap();
        shell.send_line("\\q").unwrap();
        shell.exp_eof().unwrap();
    }

    #[test]
    fn shell_describes_tables_and_quits_on_ctrl_d() {
        let dir = tempfile::tempdir().unwrap();
        let mut shell = start(&dir.path().join("history"));
        shell.exp_string("flowsql> ").unwrap();
        shell
            .send_line(
                "CREATE TABLE bids (auction BIGINT, ts TIMESTAMP(3), \
                 WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) WITH ('connector' = \
                 'filesystem', 'path' = 'data/bids/', 'format' = 'parquet');",
            )
            .unwrap();
        shell.exp_string("flowsql> ").unwrap();
        shell.send_line("\\d").unwrap();
        shell.exp_string("bids,BASE TABLE").unwrap();
        // A windowed query over the stream prints its windows.
        shell
            .send_line(
                "SELECT window_start, COUNT(*) AS n FROM TABLE(TUMBLE(TABLE bids, \
                 DESCRIPTOR(ts), INTERVAL '5' MINUTE)) GROUP BY window_start, window_end;",
            )
            .unwrap();
        shell.exp_string("2026-01-01T10:00:00,800").unwrap();
        shell.exp_string("2026-01-01T10:05:00,200").unwrap();
        shell.send_line("\\d bids").unwrap();
        shell.exp_string("ts,Timestamp(ms),YES").unwrap();
        shell
            .exp_string("watermark: FOR ts AS ts - INTERVAL '5' SECOND")
            .unwrap();
        shell.exp_string("flowsql> ").unwrap();
        shell.send_control('d').unwrap();
        shell.exp_eof().unwrap();
    }

    #[test]
    fn jobs_run_in_the_background_of_the_shell() {
        let dir = tempfile::tempdir().unwrap();
        let mut shell = start(&dir.path().join("history"));
        shell.exp_string("flowsql> ").unwrap();
        shell
            .send_line(
                "CREATE TABLE live (auction BIGINT, ts TIMESTAMP(3), \
                 WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) WITH ('connector' = \
                 'filesystem', 'path' = 'data/bids/', 'format' = 'parquet', \
                 'source.monitor-interval' = '50ms');",
            )
            .unwrap();
        shell.exp_string("flowsql> ").unwrap();
        shell
            .send_line("CREATE TABLE nowhere (ws TIMESTAMP(3), n BIGINT) WITH ('connector' = 'blackhole');")
            .unwrap();
        shell.exp_string("flowsql> ").unwrap();
        // A query over the watched directory never ends: the progress line
        // shows it working, and Ctrl-C ends it.
        shell
            .send_line(
                "SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE live, \
                 DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end;",
            )
            .unwrap();
        shell.exp_string("1000 rows read").unwrap();
        shell
            .exp_string("rows/s, watermark 2026-01-01 10:06:")
            .unwrap();
        shell.send_control('c').unwrap();
        shell.exp_string("query cancelled").unwrap();
        shell.exp_string("flowsql> ").unwrap();
        // An INSERT over it runs as a job; the prompt comes back at once.
        shell
            .send_line(
                "INSERT INTO nowhere SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE live, \
                 DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end;",
            )
            .unwrap();
        shell.exp_string("job_id\r\n1").unwrap();
        shell.exp_string("flowsql> ").unwrap();
        shell.send_line("SHOW JOBS;").unwrap();
        shell.exp_string(",RUNNING,").unwrap();
        shell.exp_string("flowsql> ").unwrap();
        shell.send_line("STOP JOB 1;").unwrap();
        shell.exp_string(",STOPPED,").unwrap();
        shell.exp_string("flowsql> ").unwrap();
        shell.send_line("\\q").unwrap();
        shell.exp_eof().unwrap();
    }
}

#[test]
fn result_modes_show_the_changelog_or_the_table_it_folds_to() {
    let run = |mode: &str| {
        let output = flowsql(&[
            "-q",
            "-c",
            &format!(
                "CREATE TABLE bids (auction BIGINT, bidder BIGINT, price DOUBLE, ts TIMESTAMP(3),
                   WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
                 WITH ('connector' = 'filesystem', 'path' = 'data/bids/', 'format' = 'parquet');
                 SET 'sql-client.execution.result-mode' = '{mode}';
                 SELECT auction, COUNT(*) AS n FROM bids WHERE auction <= 1002 GROUP BY auction"
            ),
        ]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        stdout(&output)
    };
    // Every change, as Flink prints it: the first file's counts, then
    // their updates.
    let changelog = run("changelog");
    let lines: Vec<&str> = changelog.lines().collect();
    assert_eq!(lines.len(), 6, "{changelog}");
    for line in [
        "+I[1001, 65]",
        "-U[1001, 65]",
        "+U[1001, 132]",
        "+U[1002, 133]",
    ] {
        assert!(lines.contains(&line), "{line} not in {changelog}");
    }
    // The table the changelog folds to (printed once: not a terminal).
    let table = run("table");
    assert!(!table.contains("op"), "{table}");
    let rows: Vec<&str> = table.lines().filter(|l| l.contains("100")).collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(
        rows.iter().any(|r| r.contains("1001") && r.contains("132")),
        "{table}"
    );
    assert!(
        rows.iter().any(|r| r.contains("1002") && r.contains("133")),
        "{table}"
    );
    // Tableau (the default) keeps each emission's table with its op column.
    assert!(run("tableau").contains("| op |"));
}

#[test]
fn an_updating_result_starts_with_op_in_every_format() {
    let sql = "CREATE TABLE bids (auction BIGINT, bidder BIGINT, price DOUBLE, ts TIMESTAMP(3),
                 WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
               WITH ('connector' = 'filesystem', 'path' = 'data/bids/', 'format' = 'parquet');
               SELECT auction, COUNT(*) AS n FROM bids WHERE auction = 1001 GROUP BY auction";
    let run = |format: &str| {
        let output = flowsql(&["-q", "--format", format, "-c", sql]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        stdout(&output)
    };
    assert_eq!(
        run("csv"),
        "op,auction,n\n+I,1001,65\n-U,1001,65\n+U,1001,132\n"
    );
    assert_eq!(
        run("tsv"),
        "op\tauction\tn\n+I\t1001\t65\n-U\t1001\t65\n+U\t1001\t132\n"
    );
    assert_eq!(
        run("ndjson"),
        "{\"op\":\"+I\",\"auction\":1001,\"n\":65}\n{\"op\":\"-U\",\"auction\":1001,\"n\":65}\n\
         {\"op\":\"+U\",\"auction\":1001,\"n\":132}\n"
    );
    let json = run("json");
    assert!(
        json.starts_with("[{\"op\":\"+I\",\"auction\":1001,\"n\":65}"),
        "{json}"
    );
    let table = run("table");
    assert!(table.contains("| op | auction | n   |"), "{table}");
}
