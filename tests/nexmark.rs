//! Nexmark on the generator: the example queries of sql-examples/nexmark/,
//! run as streaming queries, equal the same questions asked of the same
//! events by DataFusion as batch SQL written independently (date_bin for
//! fixed windows, LAG for sessions). The updating queries (q15-q19) are
//! read from their files, as the suite writes them, over a table with
//! Nexmark's own column names; their folded changelogs equal the batch.

mod common;

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{Int64Type, TimestampMillisecondType};
use datafusion::datasource::MemTable;
use flowsql::Engine;

const EVENTS: u64 = 300_000;

fn bid_table(name: &str, watermark: bool) -> String {
    format!(
        "CREATE TABLE {name} (auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR,
           url VARCHAR, date_time TIMESTAMP(3), extra VARCHAR{})
         WITH ('connector' = 'nexmark', 'table' = 'bid', 'events' = '{EVENTS}', 'seed' = '42')",
        if watermark {
            ", WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND"
        } else {
            ""
        }
    )
}

/// The query of sql-examples/nexmark/<q>.sql: its INSERT's SELECT.
fn suite_query(q: &str) -> String {
    let text = std::fs::read_to_string(format!("sql-examples/nexmark/{q}.sql")).unwrap();
    let insert = format!("INSERT INTO nexmark_{q}\n");
    let start = text.find(&insert).unwrap() + insert.len();
    text[start..].trim_end().trim_end_matches(';').to_string()
}

/// The folded changelog of an updating query.
async fn run_folded(engine: &Engine, sql: &str) -> Vec<String> {
    let stream = engine.query(sql).await.unwrap();
    assert_eq!(
        stream.schema().field(0).name(),
        "op",
        "{sql} is not updating"
    );
    common::folded_changelog(&stream.collect().await.unwrap())
}

async fn run(engine: &Engine, sql: &str) -> Vec<String> {
    let stream = engine.query(sql).await.unwrap();
    common::sorted_rows(&stream.collect().await.unwrap())
}

/// An engine with the stream `bid` and the same events as the bounded
/// in-memory table `bids` (read once through the stream).
async fn engine(dir: &std::path::Path) -> Engine {
    engine_with(dir, "date_time").await
}

/// As [`engine`], the event time named `time` (`dateTime` is Nexmark's).
async fn engine_with(dir: &std::path::Path, time: &str) -> Engine {
    let engine = common::engine_in(dir).await;
    let named =
        |table: &str, watermark: bool| bid_table(table, watermark).replace("date_time", time);
    engine.execute(&named("bid", true)).await.unwrap();
    engine.execute(&named("bid_events", false)).await.unwrap();
    bounded_copy(&engine, "bid_events", "bids").await;
    engine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generator_is_deterministic_and_in_proportion() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let counted = run(
        &engine,
        "SELECT COUNT(*), MIN(date_time), MAX(date_time), COUNT(DISTINCT auction) > 1000 FROM bids",
    )
    .await;
    // 46 in 50 events are bids, 100 µs apart from 2026-01-01 (times in ms).
    assert_eq!(
        counted,
        ["276000 | 2026-01-01T00:00:00 | 2026-01-01T00:00:29.999 | true"]
    );
    // The same seed gives the same events.
    engine.execute(&bid_table("again", false)).await.unwrap();
    let first = run(&engine, "SELECT * FROM bids").await;
    let again = run(&engine, "SELECT * FROM again").await;
    assert_eq!(first, again);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q5_hot_items_equal_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let streaming = run(
        &engine,
        "SELECT AuctionBids.auction, AuctionBids.num, AuctionBids.starttime
         FROM (
           SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
           FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
           GROUP BY auction, window_start, window_end
         ) AS AuctionBids
         JOIN (
           SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
           FROM (
             SELECT count(*) AS num, window_start AS starttime, window_end AS endtime
             FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
             GROUP BY auction, window_start, window_end
           ) AS CountBids
           GROUP BY CountBids.starttime, CountBids.endtime
         ) AS MaxBids
         ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
            AND AuctionBids.num >= MaxBids.maxn",
    )
    .await;
    // Batch: each bid is in the five 10-second windows starting at its
    // 2-second bin and the four before.
    let batch = run(
        &engine,
        "WITH windowed AS (
           SELECT auction, date_bin(INTERVAL '2' SECOND, date_time) - k AS ws
           FROM bids CROSS JOIN (VALUES (INTERVAL '0' SECOND), (INTERVAL '2' SECOND),
             (INTERVAL '4' SECOND), (INTERVAL '6' SECOND), (INTERVAL '8' SECOND)) AS ks(k)
         ),
         counts AS (SELECT auction, ws, COUNT(*) AS num FROM windowed GROUP BY auction, ws)
         SELECT c.auction, c.num, c.ws FROM counts c
         JOIN (SELECT ws, MAX(num) AS maxn FROM counts GROUP BY ws) m
           ON c.ws = m.ws AND c.num >= m.maxn",
    )
    .await;
    assert!(streaming.len() > 10, "{streaming:?}");
    assert_eq!(streaming, batch);
}

/// q7 joined within the window (each window's bids freed as it closes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q7_highest_bids_equal_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let streaming = run(
        &engine,
        "SELECT B.auction, B.price, B.bidder, B.date_time
         FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND)) B
         JOIN (
           SELECT MAX(price) AS maxprice, window_start, window_end
           FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
           GROUP BY window_start, window_end
         ) B1
         ON B.price = B1.maxprice AND B.window_start = B1.window_start AND B.window_end = B1.window_end",
    )
    .await;
    let batch = run(
        &engine,
        "SELECT b.auction, b.price, b.bidder, b.date_time FROM bids b
         JOIN (SELECT date_bin(INTERVAL '10' SECOND, date_time) AS ws, MAX(price) AS top
               FROM bids GROUP BY 1) m
           ON date_bin(INTERVAL '10' SECOND, b.date_time) = m.ws AND b.price = m.top",
    )
    .await;
    assert_eq!(streaming.len(), 3);
    assert_eq!(streaming, batch);
}

/// q7 as the suite writes it: the bid stream joined with each window's
/// highest price (a regular join: the window's end is no event time),
/// bids within the 10 seconds up to the window's end; against date_bin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q7_as_the_suite_writes_it_equals_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), "dateTime").await;
    let streaming = run(&engine, &suite_query("q7")).await;
    let batch = run(
        &engine,
        "SELECT b.auction, b.price, b.bidder, b.datetime, b.extra FROM bids b
         JOIN (SELECT date_bin(INTERVAL '10' SECOND, datetime) + INTERVAL '10' SECOND AS ends,
                      MAX(price) AS top
               FROM bids GROUP BY 1) m
           ON b.price = m.top
         WHERE b.datetime >= m.ends - INTERVAL '10' SECOND AND b.datetime <= m.ends",
    )
    .await;
    assert_eq!(streaming.len(), 3);
    assert_eq!(streaming, batch);
}

/// The CREATE TABLE statements of sql-examples/nexmark/<q>.sql for the
/// generator's tables, with `events` events.
fn suite_tables(q: &str, events: u64) -> String {
    let text = std::fs::read_to_string(format!("sql-examples/nexmark/{q}.sql")).unwrap();
    let tables: Vec<&str> = text
        .split(';')
        .filter(|s| s.contains("'connector' = 'nexmark'"))
        .collect();
    tables
        .join(";")
        .replace("'events'    = '1000000'", &format!("'events' = '{events}'"))
}

/// Registers the events of stream table `stream` as the bounded in-memory
/// table `bounded`, read once through the stream.
async fn bounded_copy(engine: &Engine, stream: &str, bounded: &str) {
    let stream = engine
        .query(&format!("SELECT * FROM {stream}"))
        .await
        .unwrap();
    let schema = stream.schema();
    let batches = stream.collect().await.unwrap();
    let table = MemTable::try_new(schema, vec![batches]).unwrap();
    engine
        .session_context()
        .register_table(bounded, Arc::new(table))
        .unwrap();
}

/// q8 as the suite writes it: a window join of two streams (people and
/// auctions, each from its own generator), against the batch join of each
/// side's 10-second bins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q8_new_users_window_join_equals_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine_in(dir.path()).await;
    engine.execute(&suite_tables("q8", EVENTS)).await.unwrap();
    bounded_copy(&engine, "person", "persons").await;
    bounded_copy(&engine, "auction", "auctions").await;
    let streaming = run(&engine, &suite_query("q8")).await;
    let batch = run(
        &engine,
        "SELECT P.id, P.name, P.ws FROM
           (SELECT DISTINCT id, name, date_bin(INTERVAL '10' SECOND, datetime) AS ws FROM persons) P
         JOIN (SELECT DISTINCT seller, date_bin(INTERVAL '10' SECOND, datetime) AS ws FROM auctions) A
           ON P.id = A.seller AND P.ws = A.ws",
    )
    .await;
    assert!(streaming.len() > 100, "{}", streaming.len());
    assert_eq!(streaming, batch);
}

/// q3 and q20 as the suite writes them: regular inner joins of two
/// streams (auctions with their sellers, bids with their auctions), against
/// the batch joins of the same events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q3_and_q20_regular_joins_equal_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine_in(dir.path()).await;
    engine.execute(&suite_tables("q20", EVENTS)).await.unwrap();
    engine
        .execute(&suite_tables("q8", EVENTS).replace("CREATE TABLE auction", "CREATE TABLE unused"))
        .await
        .unwrap();
    bounded_copy(&engine, "person", "persons").await;
    bounded_copy(&engine, "auction", "auctions").await;
    bounded_copy(&engine, "bid", "bids").await;
    let q3 = run(&engine, &suite_query("q3")).await;
    let q3_batch = run(
        &engine,
        "SELECT P.name, P.city, P.state, A.id FROM auctions A JOIN persons P ON A.seller = P.id
         WHERE A.category = 10 AND P.state IN ('OR', 'ID', 'CA')",
    )
    .await;
    assert!(q3.len() > 10, "{}", q3.len());
    assert_eq!(q3, q3_batch);
    let q20 = run(&engine, &suite_query("q20")).await;
    let q20_batch = run(
        &engine,
        "SELECT B.auction, B.bidder, B.price, B.channel, B.url, B.datetime, B.extra,
                A.itemname, A.description, A.initialbid, A.reserve, A.datetime, A.expires,
                A.seller, A.category, A.extra
         FROM bids B JOIN auctions A ON B.auction = A.id WHERE A.category = 10",
    )
    .await;
    assert!(q20.len() > 1000, "{}", q20.len());
    assert_eq!(q20, q20_batch);
}

/// q4 and q9 as the suite writes them: a regular join of auctions and
/// bids (the bid's time within the auction's own dateTime and expires),
/// then GROUP BYs (q4: each auction's highest bid, averaged per category)
/// or a Top-1 (q9: each auction's winning bid) over the joined rows; their
/// folded changelogs against batch SQL written another way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q4_and_q9_aggregates_over_a_join_equal_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine_in(dir.path()).await;
    engine.execute(&suite_tables("q4", EVENTS)).await.unwrap();
    bounded_copy(&engine, "auction", "auctions").await;
    bounded_copy(&engine, "bid", "bids").await;
    let open_bids = "SELECT A.id, A.category, B.price, B.datetime FROM auctions A JOIN bids B
                       ON B.auction = A.id
                     WHERE B.datetime >= A.datetime AND B.datetime <= A.expires";
    let q4 = run_folded(&engine, &suite_query("q4")).await;
    let q4_batch = run(
        &engine,
        &format!(
            "WITH open_bids AS ({open_bids}),
                  winning AS (SELECT category, id, MAX(price) AS price FROM open_bids
                              GROUP BY id, category)
             SELECT category, SUM(price) / CAST(COUNT(*) AS DOUBLE) FROM winning
             GROUP BY category"
        ),
    )
    .await;
    assert!(q4.len() >= 5, "{}", q4.len());
    assert_eq!(q4, q4_batch);
    let q9 = run_folded(
        &engine,
        &format!(
            "SELECT id, category, price, bid_dateTime FROM ({})",
            suite_query("q9")
        ),
    )
    .await;
    let q9_batch = run(
        &engine,
        &format!(
            "WITH open_bids AS ({open_bids}),
                  highest AS (SELECT id, MAX(price) AS price FROM open_bids GROUP BY id)
             SELECT o.id, o.category, o.price, MIN(o.datetime) FROM open_bids o
             JOIN highest h ON o.id = h.id AND o.price = h.price
             GROUP BY o.id, o.category, o.price"
        ),
    )
    .await;
    assert!(q9.len() > 1000, "{}", q9.len());
    assert_eq!(q9, q9_batch);
}

/// q14 as the suite writes it: its `CREATE FUNCTION count_char AS
/// '<Java class>'` names the Rust function flowsql registers under that
/// class; HOUR as Flink has it. Against DataFusion's own date_part and
/// string functions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q14_udf_and_hour_equal_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine_in(dir.path()).await;
    let text = std::fs::read_to_string("sql-examples/nexmark/q14.sql").unwrap();
    let create = text
        .split(';')
        .find(|s| s.contains("CREATE FUNCTION count_char AS"))
        .unwrap();
    engine.execute(create).await.unwrap();
    engine.execute(&suite_tables("q14", EVENTS)).await.unwrap();
    bounded_copy(&engine, "bid", "bids").await;
    let streaming = run(&engine, &suite_query("q14")).await;
    let batch = run(
        &engine,
        r#"SELECT auction, bidder, 0.908 * price,
             CASE WHEN date_part('hour', "dateTime") BETWEEN 8 AND 18 THEN 'dayTime'
                  WHEN date_part('hour', "dateTime") BETWEEN 7 AND 19 THEN 'otherTime'
                  ELSE 'nightTime' END,
             "dateTime", extra,
             character_length(extra) - character_length(replace(extra, 'c', ''))
           FROM bids WHERE price * 0.908 > 1000000 AND price * 0.908 < 50000000"#,
    )
    .await;
    assert!(streaming.len() > 1000, "{}", streaming.len());
    assert_eq!(streaming, batch);
}

/// q13 as the suite writes it: a lookup join on processing time
/// (`FOR SYSTEM_TIME AS OF` a `PROCTIME()` column) of the bids with the
/// suite's bounded side input, against DataFusion's batch join of the same
/// file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q13_side_input_lookup_equals_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine_in(dir.path()).await;
    let text = std::fs::read_to_string("sql-examples/nexmark/q13.sql").unwrap();
    let side_input = text
        .split(';')
        .find(|s| s.contains("CREATE TABLE side_input"))
        .unwrap();
    engine.execute(side_input).await.unwrap();
    engine.execute(&suite_tables("q13", EVENTS)).await.unwrap();
    bounded_copy(&engine, "bid", "bids").await;
    let streaming = run(&engine, &suite_query("q13")).await;
    let batch = run(
        &engine,
        r#"SELECT b.auction, b.bidder, b.price, b."dateTime", s.value
           FROM bids b JOIN side_input s ON b.auction % 10000 = s.key"#,
    )
    .await;
    assert_eq!(streaming.len(), 276_000);
    assert_eq!(streaming, batch);
}

/// Computed columns of a nexmark table, the watermark declared on one and
/// `PROCTIME()` among them: computed on each generated batch, windowed on
/// the computed time, against DataFusion's batch query of the same bids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn computed_columns_of_a_nexmark_table_equal_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    engine
        .execute(&format!(
            "CREATE TABLE priced (auction BIGINT, price BIGINT, date_time TIMESTAMP(3),
               cents AS price * 100, ts AS date_time + INTERVAL '1' SECOND, p AS PROCTIME(),
               WATERMARK FOR ts AS ts - INTERVAL '4' SECOND)
             WITH ('connector' = 'nexmark', 'table' = 'bid', 'events' = '{EVENTS}', 'seed' = '42')"
        ))
        .await
        .unwrap();
    let streaming = run(
        &engine,
        "SELECT window_start, COUNT(*), SUM(cents), COUNT(p)
         FROM TABLE(TUMBLE(TABLE priced, DESCRIPTOR(ts), INTERVAL '10' SECOND))
         GROUP BY window_start, window_end",
    )
    .await;
    let batch = run(
        &engine,
        "SELECT date_bin(INTERVAL '10' SECOND, date_time + INTERVAL '1' SECOND), COUNT(*),
           SUM(price * 100), COUNT(price)
         FROM bids GROUP BY 1",
    )
    .await;
    assert!(streaming.len() > 2, "{streaming:?}");
    assert_eq!(streaming, batch);
}

/// q12 as the suite writes it: windows on processing time (a PROCTIME()
/// column of a view). Which window a bid lands in depends on the clock, so
/// the oracle is what does not: every bid counted once, per bidder as the
/// batch count, and every window 10 s long and aligned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q12_processing_time_windows_count_every_bid_once() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine_in(dir.path()).await;
    engine.execute(&suite_tables("q12", EVENTS)).await.unwrap();
    let text = std::fs::read_to_string("sql-examples/nexmark/q12.sql").unwrap();
    let view = text
        .split(';')
        .find(|s| s.contains("CREATE VIEW B"))
        .unwrap();
    engine.execute(view).await.unwrap();
    bounded_copy(&engine, "bid", "bids").await;
    let stream = engine.query(&suite_query("q12")).await.unwrap();
    let batches = stream.collect().await.unwrap();
    let mut per_bidder: std::collections::BTreeMap<i64, i64> = Default::default();
    for batch in &batches {
        let bidder = batch.column(0).as_primitive::<Int64Type>();
        let count = batch.column(1).as_primitive::<Int64Type>();
        let start = batch.column(2).as_primitive::<TimestampMillisecondType>();
        let end = batch.column(3).as_primitive::<TimestampMillisecondType>();
        for r in 0..batch.num_rows() {
            assert_eq!(end.value(r) - start.value(r), 10_000);
            assert_eq!(start.value(r) % 10_000, 0, "windows align to the epoch");
            *per_bidder.entry(bidder.value(r)).or_default() += count.value(r);
        }
    }
    let mut streaming: Vec<String> = per_bidder
        .iter()
        .map(|(b, n)| format!("{b} | {n}"))
        .collect();
    streaming.sort();
    let batch = run(&engine, "SELECT bidder, COUNT(*) FROM bids GROUP BY bidder").await;
    assert!(!streaming.is_empty());
    assert_eq!(streaming, batch);
}

/// q21 and q22 as the suite writes them (REGEXP_EXTRACT and SPLIT_INDEX,
/// per batch), against DataFusion's own regexp_match and split_part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q21_channel_ids_and_q22_url_directories_equal_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), "dateTime").await;
    let q21 = run(&engine, &suite_query("q21")).await;
    let q21_batch = run(
        &engine,
        "SELECT auction, bidder, price, channel,
           CASE lower(channel) WHEN 'apple' THEN '0' WHEN 'google' THEN '1'
             WHEN 'facebook' THEN '2' WHEN 'baidu' THEN '3'
             ELSE regexp_match(url, '(&|^)channel_id=([^&]*)')[2] END
         FROM bids
         WHERE regexp_match(url, '(&|^)channel_id=([^&]*)')[2] IS NOT NULL
            OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu')",
    )
    .await;
    assert!(q21.len() > 1000, "{}", q21.len());
    assert_eq!(q21, q21_batch);
    let q22 = run(&engine, &suite_query("q22")).await;
    let q22_batch = run(
        &engine,
        "SELECT auction, bidder, price, channel, NULLIF(split_part(url, '/', 4), ''),
           NULLIF(split_part(url, '/', 5), ''), NULLIF(split_part(url, '/', 6), '')
         FROM bids",
    )
    .await;
    assert_eq!(q22.len(), 276_000);
    assert_eq!(q22, q22_batch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q11_sessions_equal_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let streaming = run(
        &engine,
        "SELECT B.bidder, count(*) AS bid_count,
                SESSION_START(B.date_time, INTERVAL '10' SECOND) AS starttime,
                SESSION_END(B.date_time, INTERVAL '10' SECOND) AS endtime
         FROM bid B
         GROUP BY B.bidder, SESSION(B.date_time, INTERVAL '10' SECOND)",
    )
    .await;
    // Batch: a bid more than 10 s after its bidder's previous one starts a
    // session; a session ends 10 s after its last bid.
    let batch = run(
        &engine,
        "WITH marked AS (
           SELECT bidder, date_time,
             CASE WHEN date_time - LAG(date_time) OVER (PARTITION BY bidder ORDER BY date_time)
                       <= INTERVAL '10' SECOND THEN 0 ELSE 1 END AS new_session
           FROM bids
         ),
         numbered AS (
           SELECT bidder, date_time,
             SUM(new_session) OVER (PARTITION BY bidder ORDER BY date_time
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS session
           FROM marked
         )
         SELECT bidder, COUNT(*), MIN(date_time), MAX(date_time) + INTERVAL '10' SECOND
         FROM numbered GROUP BY bidder, session",
    )
    .await;
    assert!(streaming.len() > 1000, "{}", streaming.len());
    assert_eq!(streaming, batch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q12_tumbling_counts_and_q2_selection_equal_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let streaming = run(
        &engine,
        "SELECT bidder, count(*) AS bid_count, window_start, window_end
         FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
         GROUP BY bidder, window_start, window_end",
    )
    .await;
    let batch = run(
        &engine,
        "SELECT bidder, COUNT(*), date_bin(INTERVAL '10' SECOND, date_time),
                date_bin(INTERVAL '10' SECOND, date_time) + INTERVAL '10' SECOND
         FROM bids GROUP BY 1, 3",
    )
    .await;
    assert_eq!(streaming, batch);

    let selected = run(
        &engine,
        "SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0",
    )
    .await;
    let batch = run(
        &engine,
        "SELECT auction, price FROM bids WHERE auction % 123 = 0",
    )
    .await;
    assert!(!selected.is_empty());
    assert_eq!(selected, batch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q15_to_q17_daily_statistics_equal_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), "dateTime").await;
    // Counts per price level, as CASE sums and distinct CASEs.
    let levels = |what: &str| {
        let [low, mid, high] = [
            "price < 10000",
            "price >= 10000 AND price < 1000000",
            "price >= 1000000",
        ];
        match what {
            "*" => format!(
                "COUNT(*), SUM(CASE WHEN {low} THEN 1 ELSE 0 END), \
                 SUM(CASE WHEN {mid} THEN 1 ELSE 0 END), SUM(CASE WHEN {high} THEN 1 ELSE 0 END)"
            ),
            column => format!(
                "COUNT(DISTINCT {column}), COUNT(DISTINCT CASE WHEN {low} THEN {column} END), \
                 COUNT(DISTINCT CASE WHEN {mid} THEN {column} END), \
                 COUNT(DISTINCT CASE WHEN {high} THEN {column} END)"
            ),
        }
    };
    let day = "to_char(dateTime, '%Y-%m-%d')";
    let q15 = format!(
        "SELECT {day}, {}, {}, {} FROM bids GROUP BY 1",
        levels("*"),
        levels("bidder"),
        levels("auction")
    );
    let q16 = format!(
        "SELECT channel, {day}, MAX(to_char(dateTime, '%H:%M')), {}, {}, {} FROM bids \
         GROUP BY 1, 2",
        levels("*"),
        levels("bidder"),
        levels("auction")
    );
    let q17 = format!(
        "SELECT auction, {day}, {}, MIN(price), MAX(price), AVG(price), SUM(price) FROM bids \
         GROUP BY 1, 2",
        levels("*")
    );
    for (q, batch) in [("q15", q15), ("q16", q16), ("q17", q17)] {
        let streamed = run_folded(&engine, &suite_query(q)).await;
        assert!(!streamed.is_empty(), "{q}");
        assert_eq!(streamed, run(&engine, &batch).await, "{q}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q18_last_bid_and_q19_top_ten_equal_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), "dateTime").await;
    // The last bid per bidder and auction: one row each, at the latest time
    // (which row of a millisecond's ties is Flink's rule, not batch SQL's).
    let q18 = run_folded(
        &engine,
        &format!(
            "SELECT bidder, auction, dateTime FROM ({})",
            suite_query("q18")
        ),
    )
    .await;
    let batch = run(
        &engine,
        "SELECT bidder, auction, MAX(dateTime) FROM bids GROUP BY bidder, auction",
    )
    .await;
    assert!(q18.len() > 1000, "{}", q18.len());
    assert_eq!(q18, batch);
    // The ten highest prices of each auction, with their rank.
    let q19 = run_folded(
        &engine,
        &format!(
            "SELECT auction, price, rank_number FROM ({})",
            suite_query("q19")
        ),
    )
    .await;
    let batch = run(
        &engine,
        "SELECT auction, price, rn FROM (SELECT auction, price, \
           ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rn FROM bids) \
         WHERE rn <= 10",
    )
    .await;
    assert!(q19.len() > 1000, "{}", q19.len());
    assert_eq!(q19, batch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q10_logs_bids_into_partitioned_files() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), "dateTime").await;
    let text = std::fs::read_to_string("sql-examples/nexmark/q10.sql").unwrap();
    let out = dir.path().join("bid");
    let sink = &text[text.find("CREATE TABLE nexmark_q10").unwrap()..text.find("INSERT").unwrap()];
    let sink = sink.replace("nexmark-q10-output/bid/", &format!("{}/", out.display()));
    engine.execute(&sink).await.unwrap();
    engine
        .execute(&format!("INSERT INTO nexmark_q10\n{}", suite_query("q10")))
        .await
        .unwrap();
    let jobs = engine.jobs().wait_all().await;
    assert_eq!(
        jobs[0].state,
        flowsql::JobState::Finished,
        "{:?}",
        jobs[0].state
    );
    let (written, uncommitted) = common::partitioned_rows(&out, 2).await;
    assert!(uncommitted.is_empty(), "{uncommitted:?}");
    let batch = run(
        &engine,
        "SELECT auction, bidder, price, dateTime, extra, to_char(dateTime, '%Y-%m-%d'),
                to_char(dateTime, '%H:%M') FROM bids",
    )
    .await;
    assert_eq!(written.len(), 276_000);
    assert_eq!(written, batch);
}

/// `'events-per-second'` paces the generator and spaces event times by
/// 1/rate: 200 events at 2000/s are 0.5 ms apart (the last bid, event 199,
/// at 99 ms).
/// SELECT DISTINCT and UNION over a stream emit each distinct row once
/// (they deduplicated per batch only, 75,801 rows for 10,004 channels).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_and_union_equal_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    engine.execute(&bid_table("bid2", true)).await.unwrap();
    for (streaming, batch) in [
        (
            "SELECT DISTINCT channel FROM bid",
            "SELECT DISTINCT channel FROM bids",
        ),
        (
            "SELECT DISTINCT auction % 100, bidder % 7 FROM bid WHERE price > 1000",
            "SELECT DISTINCT auction % 100, bidder % 7 FROM bids WHERE price > 1000",
        ),
        (
            "SELECT channel FROM bid WHERE auction % 2 = 0 UNION SELECT channel FROM bid2",
            "SELECT channel FROM bids WHERE auction % 2 = 0 UNION SELECT channel FROM bids",
        ),
    ] {
        let streamed = run(&engine, streaming).await;
        assert!(streamed.len() > 50, "{streaming}: {}", streamed.len());
        assert_eq!(streamed, run(&engine, batch).await, "{streaming}");
    }
    let err = engine
        .query("SELECT channel FROM (SELECT DISTINCT channel, url FROM bid) WHERE url <> ''")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("outermost"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_per_second_spaces_event_times() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine_in(dir.path()).await;
    engine
        .execute(
            "CREATE TABLE paced (auction BIGINT, date_time TIMESTAMP(3))
             WITH ('connector' = 'nexmark', 'table' = 'bid', 'events' = '200',
                   'events-per-second' = '2000', 'seed' = '7')",
        )
        .await
        .unwrap();
    let rows = run(&engine, "SELECT date_time FROM paced").await;
    assert_eq!(rows.len(), 184);
    assert_eq!(rows.first().unwrap(), "2026-01-01T00:00:00.002");
    assert_eq!(rows.last().unwrap(), "2026-01-01T00:00:00.099");
}
