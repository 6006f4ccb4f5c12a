//! Flink's own answers: the Flink docs' examples of updating and
//! OVER queries (Group Aggregation, Top-N, Deduplication, Over Aggregation,
//! Window Top-N, Window Deduplication, Cascading Window Aggregation) and of
//! joins (Window Join: FULL, IN, NOT EXISTS; Interval Join; Event Time
//! Temporal Join; Regular Joins, LEFT and FULL), run on
//! flowsql unchanged, give the results Flink 2.3 gave for the same input.
//! `tests/flink/make_expected.py` made the expected files with PyFlink
//! (streaming mode, parallelism 1) and wrote each query beside them; the
//! changelogs are compared folded (flowsql emits a change per key per
//! batch where Flink emits one per row; the results they fold to agree).

mod common;

use common::{folded_changelog, sorted_rows};

/// The tables of tests/flink/, as make_expected.py declares them to Flink.
const TABLES: &str = "
CREATE TABLE Bid (
  bidtime TIMESTAMP(3), price DOUBLE, item STRING, supplier_id STRING,
  WATERMARK FOR bidtime AS bidtime - INTERVAL '1' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'tests/flink/bid.csv', 'format' = 'csv',
        'csv.header' = 'false');
CREATE TABLE Orders (
  order_id BIGINT, product STRING, category STRING, amount BIGINT, order_time TIMESTAMP(3),
  WATERMARK FOR order_time AS order_time - INTERVAL '1' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'tests/flink/orders.csv', 'format' = 'csv',
        'csv.header' = 'false');
CREATE TABLE LeftTable (
  row_time TIMESTAMP(3), num INT, id STRING,
  WATERMARK FOR row_time AS row_time - INTERVAL '5' MINUTE
) WITH ('connector' = 'filesystem', 'path' = 'tests/flink/left.csv', 'format' = 'csv',
        'csv.header' = 'false');
CREATE TABLE RightTable (
  row_time TIMESTAMP(3), num INT, id STRING,
  WATERMARK FOR row_time AS row_time - INTERVAL '5' MINUTE
) WITH ('connector' = 'filesystem', 'path' = 'tests/flink/right.csv', 'format' = 'csv',
        'csv.header' = 'false');
CREATE TABLE Shipments (
  ship_id BIGINT, order_id BIGINT, ship_time TIMESTAMP(3),
  WATERMARK FOR ship_time AS ship_time - INTERVAL '1' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'tests/flink/shipments.csv', 'format' = 'csv',
        'csv.header' = 'false');
CREATE TABLE fx_orders (
  order_id STRING, price DECIMAL(32, 2), currency STRING, order_time TIMESTAMP(3),
  WATERMARK FOR order_time AS order_time - INTERVAL '30' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'tests/flink/fx_orders.csv', 'format' = 'csv',
        'csv.header' = 'false');
CREATE TABLE currency_rates (
  currency STRING, conversion_rate DECIMAL(32, 2), update_time TIMESTAMP(3),
  WATERMARK FOR update_time AS update_time - INTERVAL '30' SECOND,
  PRIMARY KEY (currency) NOT ENFORCED
) WITH ('connector' = 'filesystem', 'path' = 'tests/flink/currency_rates.csv', 'format' = 'csv',
        'csv.header' = 'false');";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flink_docs_examples_give_flinks_results() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine_in(dir.path()).await;
    engine.execute(TABLES).await.unwrap();
    let view = std::fs::read_to_string("tests/flink/window1_view.sql").unwrap();
    engine.execute(&view).await.unwrap();
    let mut names: Vec<String> = std::fs::read_dir("tests/flink")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|f| f.strip_suffix(".expected").map(str::to_string))
        .collect();
    names.sort();
    assert!(names.len() >= 16, "{names:?}");
    for name in names {
        let sql = std::fs::read_to_string(format!("tests/flink/{name}.sql")).unwrap();
        let expected: Vec<String> = std::fs::read_to_string(format!("tests/flink/{name}.expected"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let stream = engine
            .query(&sql)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(stream.is_streaming(), "{name}");
        let batches = stream.collect().await.unwrap();
        let changelog = batches
            .first()
            .is_some_and(|b| b.schema().field(0).name() == "op");
        let got = match changelog {
            true => folded_changelog(&batches),
            false => sorted_rows(&batches),
        };
        assert!(!expected.is_empty(), "{name}");
        assert_eq!(got, expected, "{name}: {sql}");
    }
}
