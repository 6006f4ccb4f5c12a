//! Nexmark end to end: each query of sql-examples/nexmark/ over events from
//! the `nexmark` generator, run as a streaming query by flowsql, beside
//! DataFusion answering the same question as batch SQL over the same events
//! held in memory (generated once, before timing), in the same group so the
//! ratio is visible. Also the generator alone, and each operator shape on
//! its own (filter/project, tumbling, hopping, session) over a Parquet file
//! of the same bids read as a stream. The updating queries (q4, q9,
//! q15-q19) and the joins q3, q7, q8, q20 run as their files write them; a stream enriched from
//! a bounded table beside DataFusion's hash join of the same.
//!
//! Run: `cargo bench --bench nexmark` (`FLOWSQL_NEXMARK_EVENTS` sets the
//! number of events, 1,000,000 by default). Throughput is events/s.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use flowsql::Engine;
use futures::StreamExt;

/// (name, flowsql streaming query, DataFusion batch query over `bids`).
const QUERIES: &[(&str, &str, &str)] = &[
    (
        "q0_pass_through",
        "SELECT auction, bidder, price, date_time, extra FROM bid",
        "SELECT auction, bidder, price, date_time, extra FROM bids",
    ),
    (
        "q1_currency",
        "SELECT auction, bidder, 0.908 * price AS price, date_time, extra FROM bid",
        "SELECT auction, bidder, 0.908 * price AS price, date_time, extra FROM bids",
    ),
    (
        "q2_selection",
        "SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0",
        "SELECT auction, price FROM bids WHERE auction % 123 = 0",
    ),
    (
        "q5_hot_items_hop",
        "SELECT AuctionBids.auction, AuctionBids.num FROM (
           SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
           FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
           GROUP BY auction, window_start, window_end) AS AuctionBids
         JOIN (
           SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime FROM (
             SELECT count(*) AS num, window_start AS starttime, window_end AS endtime
             FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
             GROUP BY auction, window_start, window_end) AS CountBids
           GROUP BY CountBids.starttime, CountBids.endtime) AS MaxBids
         ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
            AND AuctionBids.num >= MaxBids.maxn",
        "WITH windowed AS (
           SELECT auction, date_bin(INTERVAL '2' SECOND, date_time) - k AS ws
           FROM bids CROSS JOIN (VALUES (INTERVAL '0' SECOND), (INTERVAL '2' SECOND),
             (INTERVAL '4' SECOND), (INTERVAL '6' SECOND), (INTERVAL '8' SECOND)) AS ks(k)),
         counts AS (SELECT auction, ws, COUNT(*) AS num FROM windowed GROUP BY auction, ws)
         SELECT c.auction, c.num FROM counts c
         JOIN (SELECT ws, MAX(num) AS maxn FROM counts GROUP BY ws) m ON c.ws = m.ws AND c.num >= m.maxn",
    ),
    (
        "q7_joined_within_the_window",
        "SELECT B.auction, B.price, B.bidder, B.date_time, B.extra
         FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND)) B
         JOIN (SELECT MAX(price) AS maxprice, window_start, window_end
               FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
               GROUP BY window_start, window_end) B1
         ON B.price = B1.maxprice AND B.window_start = B1.window_start AND B.window_end = B1.window_end",
        "SELECT b.auction, b.price, b.bidder, b.date_time, b.extra FROM bids b
         JOIN (SELECT date_bin(INTERVAL '10' SECOND, date_time) AS ws, MAX(price) AS top
               FROM bids GROUP BY 1) m
         ON date_bin(INTERVAL '10' SECOND, b.date_time) = m.ws AND b.price = m.top",
    ),
    (
        "q11_sessions",
        "SELECT B.bidder, count(*) AS bid_count,
                SESSION_START(B.date_time, INTERVAL '10' SECOND) AS starttime,
                SESSION_END(B.date_time, INTERVAL '10' SECOND) AS endtime
         FROM bid B GROUP BY B.bidder, SESSION(B.date_time, INTERVAL '10' SECOND)",
        "WITH marked AS (
           SELECT bidder, date_time,
             CASE WHEN date_time - LAG(date_time) OVER (PARTITION BY bidder ORDER BY date_time)
                  <= INTERVAL '10' SECOND THEN 0 ELSE 1 END AS new_session FROM bids),
         numbered AS (
           SELECT bidder, date_time, SUM(new_session) OVER (PARTITION BY bidder ORDER BY date_time
             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS session FROM marked)
         SELECT bidder, COUNT(*), MIN(date_time), MAX(date_time) + INTERVAL '10' SECOND
         FROM numbered GROUP BY bidder, session",
    ),
    (
        "q12_tumbling_counts",
        "SELECT bidder, count(*) AS bid_count, window_start, window_end
         FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
         GROUP BY bidder, window_start, window_end",
        "SELECT bidder, COUNT(*), date_bin(INTERVAL '10' SECOND, date_time)
         FROM bids GROUP BY 1, 3",
    ),
];

/// (name, streaming query over the Parquet stream `bid_file`).
const OPERATORS: &[(&str, &str)] = &[
    ("parquet_source", "SELECT auction FROM bid_file"),
    (
        "filter_project",
        "SELECT auction, 0.908 * price FROM bid_file WHERE auction % 10 = 0",
    ),
    (
        "tumbling",
        "SELECT window_start, auction, COUNT(*), SUM(price), MAX(price), AVG(price)
         FROM TABLE(TUMBLE(TABLE bid_file, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
         GROUP BY window_start, window_end, auction",
    ),
    (
        "hopping",
        "SELECT window_start, auction, COUNT(*)
         FROM TABLE(HOP(TABLE bid_file, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
         GROUP BY window_start, window_end, auction",
    ),
    (
        "session",
        "SELECT window_start, bidder, COUNT(*)
         FROM TABLE(SESSION(TABLE bid_file PARTITION BY bidder, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
         GROUP BY window_start, window_end, bidder",
    ),
];

/// The updating queries: (name, the file of sql-examples/nexmark/ whose
/// INSERT's SELECT is run, DataFusion batch query of the same answer).
const UPDATING: &[(&str, &str, &str)] = &[
    (
        "q15_daily_statistics",
        "q15",
        "SELECT to_char(date_time, '%Y-%m-%d'), COUNT(*), COUNT(DISTINCT bidder),
           COUNT(DISTINCT CASE WHEN price < 10000 THEN bidder END),
           COUNT(DISTINCT auction), COUNT(DISTINCT CASE WHEN price < 10000 THEN auction END)
         FROM bids GROUP BY 1",
    ),
    (
        "q16_channel_statistics",
        "q16",
        "SELECT channel, to_char(date_time, '%Y-%m-%d'), MAX(to_char(date_time, '%H:%M')),
           COUNT(*), COUNT(DISTINCT bidder), COUNT(DISTINCT auction)
         FROM bids GROUP BY 1, 2",
    ),
    (
        "q17_auction_statistics",
        "q17",
        "SELECT auction, to_char(date_time, '%Y-%m-%d'), COUNT(*), MIN(price), MAX(price),
           AVG(price), SUM(price) FROM bids GROUP BY 1, 2",
    ),
    (
        "q4_category_average",
        "q4",
        "SELECT category, AVG(final) FROM (
           SELECT A.id, A.category, MAX(B.price) AS final FROM auctions A JOIN bids B
             ON A.id = B.auction AND B.date_time BETWEEN A.date_time AND A.expires
           GROUP BY A.id, A.category) GROUP BY category",
    ),
    (
        "q9_winning_bids",
        "q9",
        "SELECT * FROM (SELECT A.*, B.auction, B.bidder, B.price, B.date_time, B.extra,
           ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.date_time) AS rn
           FROM auctions A JOIN bids B
             ON A.id = B.auction AND B.date_time BETWEEN A.date_time AND A.expires)
         WHERE rn <= 1",
    ),
    (
        "q18_last_bid",
        "q18",
        "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction
           ORDER BY date_time DESC) AS rn FROM bids) WHERE rn <= 1",
    ),
    (
        "q19_top_ten_bids",
        "q19",
        "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC)
           AS rn FROM bids) WHERE rn <= 10",
    ),
];

/// The query of sql-examples/nexmark/<q>.sql (its INSERT's SELECT), over
/// this bench's `bid` (whose event time is `date_time`).
fn suite_query(q: &str) -> String {
    let text = std::fs::read_to_string(format!("sql-examples/nexmark/{q}.sql")).unwrap();
    let insert = format!("INSERT INTO nexmark_{q}\n");
    let start = text.find(&insert).unwrap() + insert.len();
    text[start..]
        .trim_end()
        .trim_end_matches(';')
        .replace("dateTime", "date_time")
}

/// Runs `sql` to its end, counting result rows (none are kept).
async fn drain(engine: &Engine, sql: &str) -> usize {
    let mut stream = engine.query(sql).await.unwrap();
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        rows += batch.unwrap().num_rows();
    }
    rows
}

async fn batch(ctx: &SessionContext, sql: &str) -> usize {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    batches.iter().map(|b| b.num_rows()).sum()
}

fn bench(c: &mut Criterion) {
    let events: u64 = std::env::var("FLOWSQL_NEXMARK_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bids.parquet");
    let columns = "auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                   date_time TIMESTAMP(3), extra VARCHAR";
    let (engine, datafusion) = runtime.block_on(async {
        let engine = Engine::builder()
            .data_dir(dir.path())
            .build()
            .await
            .unwrap();
        engine
            .execute(&format!(
                "CREATE TABLE bid ({columns},
                   WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
                 WITH ('connector' = 'nexmark', 'table' = 'bid', 'events' = '{events}', 'seed' = '42')"
            ))
            .await
            .unwrap();
        // The same events, in memory for DataFusion and in a Parquet file.
        let stream = engine.query("SELECT * FROM bid").await.unwrap();
        let schema = stream.schema();
        let batches = stream.collect().await.unwrap();
        let datafusion = SessionContext::new();
        datafusion
            .register_table(
                "bids",
                Arc::new(MemTable::try_new(Arc::clone(&schema), vec![batches]).unwrap()),
            )
            .unwrap();
        datafusion
            .sql(&format!(
                "COPY (SELECT * FROM bids) TO '{}' STORED AS PARQUET",
                file.display()
            ))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        engine
            .execute(&format!(
                "CREATE TABLE bid_file ({columns},
                   WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
                 WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'parquet')",
                file.display()
            ))
            .await
            .unwrap();
        // People and auctions: streams for flowsql, the same events in
        // memory for DataFusion (and as a bounded table for the lookup).
        // (Nexmark's own column names, as the suite's queries use them.)
        let person = "id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR,
                      city VARCHAR, state VARCHAR, date_time TIMESTAMP(3), extra VARCHAR";
        let auction = "id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT,
                       reserve BIGINT, date_time TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT,
                       category BIGINT, extra VARCHAR";
        for (table, columns, bounded) in [("person", person, "persons"), ("auction", auction, "auctions")] {
            engine
                .execute(&format!(
                    "CREATE TABLE {table} ({columns},
                       WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
                     WITH ('connector' = 'nexmark', 'table' = '{table}', 'events' = '{events}',
                           'seed' = '42')"
                ))
                .await
                .unwrap();
            let stream = engine.query(&format!("SELECT * FROM {table}")).await.unwrap();
            let schema = stream.schema();
            let batches = stream.collect().await.unwrap();
            let table = Arc::new(MemTable::try_new(schema, vec![batches]).unwrap());
            datafusion.register_table(bounded, table.clone()).unwrap();
            engine.session_context().register_table(bounded, table).unwrap();
        }
        // The auctions as a versioned table (each id one version, from its
        // date_time on), for a temporal join; q13's side input, a file.
        engine
            .execute(&format!(
                "CREATE TABLE auction_versions ({auction},
                   WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND,
                   PRIMARY KEY (id) NOT ENFORCED)
                 WITH ('connector' = 'nexmark', 'table' = 'auction', 'events' = '{events}',
                       'seed' = '42');
                 CREATE TABLE side_input (key BIGINT, `value` VARCHAR)
                 WITH ('connector' = 'filesystem', 'path' = 'data/nexmark/side_input.txt',
                       'format' = 'csv', 'csv.header' = 'false')"
            ))
            .await
            .unwrap();
        let side_input = engine.query("SELECT * FROM side_input").await.unwrap();
        let schema = side_input.schema();
        let rows = side_input.collect().await.unwrap();
        let table = Arc::new(MemTable::try_new(schema, vec![rows]).unwrap());
        datafusion.register_table("side_input", table).unwrap();
        (engine, datafusion)
    });

    let mut group = c.benchmark_group("nexmark");
    group.throughput(Throughput::Elements(events));
    group.sample_size(10);
    group.bench_function("generator_only", |b| {
        b.to_async(&runtime)
            .iter(|| async { drain(&engine, "SELECT auction FROM bid").await })
    });
    for (name, streaming, baseline) in QUERIES {
        let expected = runtime.block_on(batch(&datafusion, baseline));
        group.bench_function(format!("{name}/flowsql"), |b| {
            b.to_async(&runtime).iter(|| async {
                assert_eq!(drain(&engine, streaming).await, expected, "{name}");
            })
        });
        group.bench_function(format!("{name}/datafusion_batch"), |b| {
            b.to_async(&runtime)
                .iter(|| async { batch(&datafusion, baseline).await })
        });
    }
    // Updating results: the whole changelog drained (its folding into the
    // batch answer is tests/nexmark.rs's part).
    for (name, file, baseline) in UPDATING {
        let streaming = suite_query(file);
        group.bench_function(format!("{name}/flowsql"), |b| {
            b.to_async(&runtime)
                .iter(|| async { drain(&engine, &streaming).await })
        });
        group.bench_function(format!("{name}/datafusion_batch"), |b| {
            b.to_async(&runtime)
                .iter(|| async { batch(&datafusion, baseline).await })
        });
    }
    // Joins: q3, q7, q8, q13 and q20 as the suite writes them (regular
    // joins of two streams, of the bids with their windows' maxima, a
    // window join, a lookup of a file on processing time; each stream
    // generated from all the events), an interval join of the bids with
    // themselves, a temporal join with the auctions as a versioned table,
    // and bids enriched from the auctions held as a bounded table.
    let joins = [
        (
            "q3_regular_join",
            suite_query("q3"),
            "SELECT P.name, P.city, P.state, A.id FROM auctions A JOIN persons P ON A.seller = P.id
             WHERE A.category = 10 AND P.state IN ('OR', 'ID', 'CA')",
        ),
        (
            "q20_regular_join",
            suite_query("q20"),
            "SELECT B.auction, B.bidder, B.price, B.channel, B.url, B.date_time, B.extra,
                    A.itemname, A.description, A.initialbid, A.reserve, A.date_time, A.expires,
                    A.seller, A.category, A.extra
             FROM bids B JOIN auctions A ON B.auction = A.id WHERE A.category = 10",
        ),
        (
            "q7_highest_bid",
            suite_query("q7"),
            "SELECT b.auction, b.price, b.bidder, b.date_time, b.extra FROM bids b
             JOIN (SELECT date_bin(INTERVAL '10' SECOND, date_time) + INTERVAL '10' SECOND AS ends,
                          MAX(price) AS top FROM bids GROUP BY 1) m
             ON b.price = m.top
             WHERE b.date_time BETWEEN m.ends - INTERVAL '10' SECOND AND m.ends",
        ),
        (
            "interval_join_bids",
            "SELECT b.auction, b.price, o.price FROM bid b JOIN bid o
             ON b.auction = o.auction AND b.bidder = o.bidder
             AND b.date_time BETWEEN o.date_time - INTERVAL '100' MILLISECOND
                                 AND o.date_time + INTERVAL '100' MILLISECOND"
                .to_string(),
            "SELECT b.auction, b.price, o.price FROM bids b JOIN bids o
             ON b.auction = o.auction AND b.bidder = o.bidder
             AND b.date_time BETWEEN o.date_time - INTERVAL '100' MILLISECOND
                                 AND o.date_time + INTERVAL '100' MILLISECOND",
        ),
        (
            "q8_window_join",
            suite_query("q8"),
            "SELECT P.id, P.name, P.ws FROM
               (SELECT DISTINCT id, name, date_bin(INTERVAL '10' SECOND, date_time) AS ws FROM persons) P
             JOIN (SELECT DISTINCT seller, date_bin(INTERVAL '10' SECOND, date_time) AS ws FROM auctions) A
             ON P.id = A.seller AND P.ws = A.ws",
        ),
        (
            "q13_side_input_lookup",
            suite_query("q13"),
            "SELECT B.auction, B.bidder, B.price, B.date_time, S.value
             FROM bids B JOIN side_input S ON B.auction % 10000 = S.key",
        ),
        (
            "temporal_join_auction_versions",
            "SELECT b.auction, b.price, a.category FROM bid b
             JOIN auction_versions FOR SYSTEM_TIME AS OF b.date_time AS a ON b.auction = a.id"
                .to_string(),
            "SELECT b.auction, b.price, a.category FROM bids b
             JOIN auctions a ON b.auction = a.id AND a.date_time <= b.date_time",
        ),
        (
            "bids_enriched_from_a_table",
            "SELECT b.auction, b.price, a.category FROM bid b JOIN auctions a ON b.auction = a.id"
                .to_string(),
            "SELECT b.auction, b.price, a.category FROM bids b JOIN auctions a ON b.auction = a.id",
        ),
    ];
    for (name, streaming, baseline) in &joins {
        let expected = runtime.block_on(batch(&datafusion, baseline));
        group.bench_function(format!("{name}/flowsql"), |b| {
            b.to_async(&runtime).iter(|| async {
                assert_eq!(drain(&engine, streaming).await, expected, "{name}");
            })
        });
        group.bench_function(format!("{name}/datafusion_batch"), |b| {
            b.to_async(&runtime)
                .iter(|| async { batch(&datafusion, baseline).await })
        });
    }
    // A regular outer join (updating: each bid NULL-padded at once, taken
    // back if its auction, of category 10, comes later): the changelog
    // drained; tests/join_oracle.rs folds such changelogs.
    let outer = "SELECT B.auction, B.price, A.category FROM bid B LEFT JOIN auction A
                 ON B.auction = A.id AND A.category = 10";
    let outer_batch = "SELECT B.auction, B.price, A.category FROM bids B LEFT JOIN auctions A
                       ON B.auction = A.id AND A.category = 10";
    group.bench_function("bids_left_join_auctions/flowsql", |b| {
        b.to_async(&runtime)
            .iter(|| async { drain(&engine, outer).await })
    });
    group.bench_function("bids_left_join_auctions/datafusion_batch", |b| {
        b.to_async(&runtime)
            .iter(|| async { batch(&datafusion, outer_batch).await })
    });
    group.finish();

    let mut group = c.benchmark_group("operators_parquet");
    group.throughput(Throughput::Elements(events * 46 / 50));
    group.sample_size(10);
    for (name, streaming) in OPERATORS {
        group.bench_function(*name, |b| {
            b.to_async(&runtime)
                .iter(|| async { drain(&engine, streaming).await })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
