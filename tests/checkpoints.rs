//! Exactly-once after crashes: six jobs (tumbling, hopping and session
//! windows, a window join, an interval join of two streams and a temporal
//! join against a versioned stream) read Parquet streams into filesystem
//! sinks, and two updating ones (a GROUP BY, and a LEFT join of two GROUP
//! BYs) into filesystem tables with a PRIMARY KEY (upsert sinks: one
//! snapshot of the table each), checkpointing every 50 ms, in
//! a `flowsql` process killed with SIGKILL at random moments and started
//! again each time; once a run finishes, each sink's visible rows must
//! equal those of an uninterrupted run: nothing lost, nothing twice.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use flowsql::Engine;
use rand::{Rng, SeedableRng};

const JOBS: [(&str, &str); 6] = [
    (
        "tumbling",
        "SELECT window_start, window_end, k, COUNT(*) AS n, SUM(v) AS total
         FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '10' SECOND))
         GROUP BY window_start, window_end, k",
    ),
    (
        "hopping",
        "SELECT window_start, window_end, k, COUNT(*) AS n, SUM(v) AS total
         FROM TABLE(HOP(TABLE events, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '15' SECOND))
         GROUP BY window_start, window_end, k",
    ),
    (
        "session",
        "SELECT window_start, window_end, k, COUNT(*) AS n, SUM(v) AS total
         FROM TABLE(SESSION(TABLE events PARTITION BY k, DESCRIPTOR(ts), INTERVAL '2' SECOND))
         GROUP BY window_start, window_end, k",
    ),
    (
        // Two streams (the same files, read twice with their own
        // watermarks) in a window join.
        "window_join",
        "SELECT L.window_start, L.window_end, L.k, L.n, R.total
         FROM (SELECT window_start, window_end, k, COUNT(*) AS n
               FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '10' SECOND))
               GROUP BY window_start, window_end, k) L
         JOIN (SELECT window_start, window_end, k, SUM(v) AS total
               FROM TABLE(TUMBLE(TABLE mirror, DESCRIPTOR(ts), INTERVAL '10' SECOND))
               GROUP BY window_start, window_end, k) R
         ON L.k = R.k AND L.window_start = R.window_start AND L.window_end = R.window_end",
    ),
    (
        // An interval join of the two streams (each row meets its copy).
        "interval_join",
        "SELECT L.ts AS window_start, R.ts AS window_end, L.k, L.v AS n, R.v AS total
         FROM events L JOIN mirror R
         ON L.k = R.k AND L.v = R.v
            AND L.ts BETWEEN R.ts - INTERVAL '1' SECOND AND R.ts + INTERVAL '1' SECOND",
    ),
    (
        // Each row joined with its key's version as of its time (the
        // files read twice more, as probes and as a versioned stream, with
        // watermarks behind their disorder: a late row's version would
        // depend on how the two sources' reads interleave).
        "temporal_join",
        "SELECT L.ts AS window_start, R.ts AS window_end, L.k, L.v AS n, R.v AS total
         FROM probes L JOIN versions FOR SYSTEM_TIME AS OF L.ts AS R ON L.k = R.k",
    ),
];

/// The updating jobs, into keyed (upsert) filesystem tables of columns
/// `k, n, total, top`.
const UPSERTS: [(&str, &str); 2] = [
    (
        "per_key",
        "SELECT k, COUNT(*), SUM(v), MAX(v) FROM events GROUP BY k",
    ),
    (
        // A regular LEFT join of two updating inputs: key 4 has no match.
        "outer_join",
        "SELECT L.k, L.n, L.total, R.top
         FROM (SELECT k, COUNT(*) AS n, SUM(v) AS total FROM events GROUP BY k) L
         LEFT JOIN (SELECT k, MAX(v) AS top FROM mirror WHERE k < 4 AND v % 7 = 0 GROUP BY k) R
         ON L.k = R.k",
    ),
];

/// Writes the input: 60 Parquet files of 4,000 rows, five keys, event
/// time 10 ms apart with up to 3 s of disorder and a 5 s pause every
/// 1,000 rows.
async fn write_input(dir: &Path) {
    let engine = Engine::builder().data_dir(dir).build().await.unwrap();
    let mut sql = String::new();
    for part in 0..60 {
        let (from, to) = (part * 4000 + 1, (part + 1) * 4000);
        sql.push_str(&format!(
            "COPY (SELECT value % 5 AS k, value % 1000 AS v,
                    TO_TIMESTAMP_MILLIS(1767261600000 + value * 10 + (value / 1000) * 5000
                                        - (value * 7919) % 3000) AS ts
                   FROM generate_series({from}, {to}) ORDER BY value)
             TO '{}/events/part-{part:03}.parquet' STORED AS PARQUET;",
            dir.display()
        ));
    }
    engine.execute(&sql).await.unwrap();
}

/// The script running the jobs from `input` into `output/<job>/`.
fn script(input: &Path, output: &Path) -> String {
    let mut script = format!(
        "SET 'execution.checkpointing.interval' = '50ms';
         CREATE TABLE events (k BIGINT, v BIGINT, ts TIMESTAMP(3),
           WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
         WITH ('connector' = 'filesystem', 'path' = '{0}/events/', 'format' = 'parquet');
         CREATE TABLE mirror (k BIGINT, v BIGINT, ts TIMESTAMP(3),
           WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
         WITH ('connector' = 'filesystem', 'path' = '{0}/events/', 'format' = 'parquet');
         CREATE TABLE probes (k BIGINT, v BIGINT, ts TIMESTAMP(3),
           WATERMARK FOR ts AS ts - INTERVAL '4' SECOND)
         WITH ('connector' = 'filesystem', 'path' = '{0}/events/', 'format' = 'parquet');
         CREATE TABLE versions (k BIGINT, v BIGINT, ts TIMESTAMP(3),
           PRIMARY KEY (k) NOT ENFORCED, WATERMARK FOR ts AS ts - INTERVAL '4' SECOND)
         WITH ('connector' = 'filesystem', 'path' = '{0}/events/', 'format' = 'parquet');\n",
        input.display()
    );
    for (name, query) in JOBS {
        script.push_str(&format!(
            "CREATE TABLE out_{name} (window_start TIMESTAMP(3), window_end TIMESTAMP(3),
               k BIGINT, n BIGINT, total BIGINT)
             WITH ('connector' = 'filesystem', 'path' = '{}/{name}/', 'format' = 'parquet');
             SET 'pipeline.name' = '{name}';
             INSERT INTO out_{name} {query};\n",
            output.display()
        ));
    }
    for (name, query) in UPSERTS {
        script.push_str(&format!(
            "CREATE TABLE out_{name} (k BIGINT, n BIGINT, total BIGINT, top BIGINT,
               PRIMARY KEY (k) NOT ENFORCED)
             WITH ('connector' = 'filesystem', 'path' = '{}/{name}/', 'format' = 'parquet');
             SET 'pipeline.name' = '{name}';
             INSERT INTO out_{name} {query};\n",
            output.display()
        ));
    }
    script
}

/// A `flowsql` process running `script` over `data_dir`.
fn flowsql(script: &Path, data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flowsql"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .arg("-q")
        .arg("-f")
        .arg(script)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// The rows of the visible Parquet files in `dir`, as sorted text.
fn visible_rows(dir: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.starts_with('.') {
            continue;
        }
        let file = std::fs::File::open(&path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            rows.extend(batch_rows(&batch.unwrap()));
        }
    }
    rows.sort();
    rows
}

fn batch_rows(batch: &RecordBatch) -> Vec<String> {
    let options = FormatOptions::default();
    let formatters: Vec<_> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
        .collect();
    (0..batch.num_rows())
        .map(|row| {
            formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_killed_at_random_moments_write_what_an_uninterrupted_run_writes() {
    let root = tempfile::tempdir().unwrap();
    write_input(root.path()).await;

    // The uninterrupted run.
    let clean = root.path().join("clean");
    let clean_script = root.path().join("clean.sql");
    std::fs::write(&clean_script, script(root.path(), &clean.join("out"))).unwrap();
    let status = flowsql(&clean_script, &clean.join("data"))
        .status()
        .unwrap();
    assert!(status.success());

    // Runs killed with SIGKILL, then one left to finish.
    let crashy = root.path().join("crashy");
    let crashy_script = root.path().join("crashy.sql");
    std::fs::write(&crashy_script, script(root.path(), &crashy.join("out"))).unwrap();
    let mut random = rand::rngs::StdRng::seed_from_u64(7);
    let mut kills = 0;
    for _ in 0..5 {
        let mut child = flowsql(&crashy_script, &crashy.join("data"))
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(random.random_range(100..1200)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    let output = flowsql(&crashy_script, &crashy.join("data"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(kills > 0, "no run was killed: the jobs ended too soon");
    eprintln!("kills: {kills}");

    for (name, _) in JOBS.iter().chain(&UPSERTS) {
        let want = visible_rows(&clean.join("out").join(name));
        let got = visible_rows(&crashy.join("out").join(name));
        assert!(!want.is_empty(), "{name}: no output");
        let (wanted, found): (HashSet<&String>, HashSet<&String>) =
            (want.iter().collect(), got.iter().collect());
        let missing: Vec<_> = wanted.difference(&found).take(5).collect();
        let extra: Vec<_> = found.difference(&wanted).take(5).collect();
        assert_eq!(
            got,
            want,
            "{name}: rows after {kills} kills: {} rows, {} wanted; missing (first 5) \
             {missing:?}, extra {extra:?}",
            got.len(),
            want.len()
        );
    }
}
