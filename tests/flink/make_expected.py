#!/usr/bin/env python3
"""Produces the golden results of tests/flink_golden.rs with Flink itself.

Each case in CASES is one of the Flink docs' examples (Group Aggregation,
Top-N, Deduplication, Over Aggregation, Window Top-N, Window Deduplication,
Cascading Window Aggregation, Window Join (FULL, IN, NOT EXISTS), Interval
Join, Regular Joins (LEFT, FULL: updating; and of updating inputs, GROUP BY
results), Event Time Temporal Join; Flink's streaming Top-N takes ROW_NUMBER()
only, so RANK() and DENSE_RANK() are checked against DataFusion instead), run by PyFlink 2.3 (`pip install
apache-flink==2.3.0`; Java 17) in streaming mode at parallelism 1 over the
CSV files of this directory: bid.csv (the docs' Bid table, as printed
there), left.csv and right.csv (the docs' LeftTable and RightTable),
orders.csv (written by this script from a fixed sequence, with ties in
amounts and times so the tie rules show) and shipments.csv (shipments of
some of those orders, some too late for the interval), fx_orders.csv and
currency_rates.csv (the temporal join docs' orders in four currencies and
the versioned table of their rates, written by this script: one currency
without a rate until late, a rate changing at an order's very time, rows
a little out of order). The docs' `orders` is `fx_orders` here (flowsql
folds unquoted names to lower case, and `Orders` is taken).

It writes window1_view.sql (the view the cascading case reads) and, for
each case, <name>.sql (the query, which the Rust test runs
unchanged on flowsql) and <name>.expected: the result the changelog folds
to (+I/+U rows added, -U/-D rows taken away), one row per line, cells
joined by " | ", sorted. Run it from the repository root:

    python3 tests/flink/make_expected.py
"""
import datetime
import os
import sys

from pyflink.common import RowKind
from pyflink.table import EnvironmentSettings, TableEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))

BID_DDL = """CREATE TABLE Bid (
  bidtime TIMESTAMP(3), price DOUBLE, item STRING, supplier_id STRING,
  WATERMARK FOR bidtime AS bidtime - INTERVAL '1' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'file://{dir}/bid.csv', 'format' = 'csv')"""

ORDERS_DDL = """CREATE TABLE Orders (
  order_id BIGINT, product STRING, category STRING, amount BIGINT, order_time TIMESTAMP(3),
  WATERMARK FOR order_time AS order_time - INTERVAL '1' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'file://{dir}/orders.csv', 'format' = 'csv')"""

# The docs' window join tables (LeftTable, RightTable). Their rows are up
# to four minutes out of order, so the watermark waits five.
SIDE_DDL = """CREATE TABLE {name} (
  row_time TIMESTAMP(3), num INT, id STRING,
  WATERMARK FOR row_time AS row_time - INTERVAL '5' MINUTE
) WITH ('connector' = 'filesystem', 'path' = 'file://{dir}/{file}', 'format' = 'csv')"""

SHIPMENTS_DDL = """CREATE TABLE Shipments (
  ship_id BIGINT, order_id BIGINT, ship_time TIMESTAMP(3),
  WATERMARK FOR ship_time AS ship_time - INTERVAL '1' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'file://{dir}/shipments.csv', 'format' = 'csv')"""

# The temporal join docs' tables: orders in several currencies, and the
# versioned table of the currencies' rates (a PRIMARY KEY and event time).
FX_ORDERS_DDL = """CREATE TABLE fx_orders (
  order_id STRING, price DECIMAL(32, 2), currency STRING, order_time TIMESTAMP(3),
  WATERMARK FOR order_time AS order_time - INTERVAL '30' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'file://{dir}/fx_orders.csv', 'format' = 'csv')"""

RATES_DDL = """CREATE TABLE currency_rates (
  currency STRING, conversion_rate DECIMAL(32, 2), update_time TIMESTAMP(3),
  WATERMARK FOR update_time AS update_time - INTERVAL '30' SECOND,
  PRIMARY KEY (currency) NOT ENFORCED
) WITH ('connector' = 'filesystem', 'path' = 'file://{dir}/currency_rates.csv', 'format' = 'csv')"""

# The docs' cascading example reads its first window through a view.
WINDOW1 = """CREATE TEMPORARY VIEW window1 AS
SELECT window_start AS window_5mintumble_start, window_end AS window_5mintumble_end,
       window_time AS rowtime, SUM(price) AS partial_price
FROM TABLE(TUMBLE(TABLE Bid, DESCRIPTOR(bidtime), INTERVAL '5' MINUTES))
GROUP BY supplier_id, window_start, window_end, window_time"""

CASES = {
    "group_aggregation": """SELECT product, COUNT(*) AS orders, SUM(amount) AS total,
       MAX(amount) AS top, COUNT(DISTINCT category) AS categories
FROM Orders
GROUP BY product
HAVING COUNT(*) > 1""",
    "top_n": """SELECT category, product, amount
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY category ORDER BY amount DESC) AS row_num
  FROM Orders)
WHERE row_num <= 3""",
    "deduplication_first": """SELECT order_id, product, amount
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY product ORDER BY order_time ASC) AS row_num
  FROM Orders)
WHERE row_num = 1""",
    "deduplication_last": """SELECT order_id, product, amount, order_time
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY product ORDER BY order_time DESC) AS row_num
  FROM Orders)
WHERE row_num = 1""",
    "over_range": """SELECT order_id, order_time, amount,
  SUM(amount) OVER (
    PARTITION BY product
    ORDER BY order_time
    RANGE BETWEEN INTERVAL '1' MINUTE PRECEDING AND CURRENT ROW
  ) AS one_minute_prod_amount_sum
FROM Orders""",
    "over_rows_window": """SELECT order_id, order_time, amount,
  MAX(amount) OVER w AS max_amount,
  COUNT(amount) OVER w AS cnt
FROM Orders
WINDOW w AS (
  PARTITION BY product
  ORDER BY order_time
  ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)""",
    "window_top_n": """SELECT *
  FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY price DESC) as rownum
    FROM (
      SELECT window_start, window_end, supplier_id, SUM(price) as price, COUNT(*) as cnt
      FROM TABLE(
        TUMBLE(TABLE Bid, DESCRIPTOR(bidtime), INTERVAL '10' MINUTES))
      GROUP BY window_start, window_end, supplier_id
    )
  ) WHERE rownum <= 3""",
    "window_deduplication": """SELECT *
  FROM (
    SELECT bidtime, price, item, supplier_id, window_start, window_end,
      ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY bidtime DESC) AS rownum
    FROM TABLE(
               TUMBLE(TABLE Bid, DESCRIPTOR(bidtime), INTERVAL '10' MINUTES))
  ) WHERE rownum <= 1""",
    "cascading_windows": """SELECT window_start, window_end, SUM(partial_price) AS total_price
  FROM TABLE(
      TUMBLE(TABLE window1, DESCRIPTOR(rowtime), INTERVAL '10' MINUTES))
  GROUP BY window_start, window_end""",
    "window_join_full": """SELECT L.num as L_Num, L.id as L_Id, R.num as R_Num, R.id as R_Id,
COALESCE(L.window_start, R.window_start) as window_start,
COALESCE(L.window_end, R.window_end) as window_end
FROM (
    SELECT * FROM TABLE(TUMBLE(TABLE LeftTable, DESCRIPTOR(row_time), INTERVAL '5' MINUTES))
) L
FULL JOIN (
    SELECT * FROM TABLE(TUMBLE(TABLE RightTable, DESCRIPTOR(row_time), INTERVAL '5' MINUTES))
) R
ON L.num = R.num AND L.window_start = R.window_start AND L.window_end = R.window_end""",
    "window_join_semi_in": """SELECT *
FROM (
    SELECT * FROM TABLE(TUMBLE(TABLE LeftTable, DESCRIPTOR(row_time), INTERVAL '5' MINUTES))
) L WHERE L.num IN (
    SELECT num FROM (
        SELECT * FROM TABLE(TUMBLE(TABLE RightTable, DESCRIPTOR(row_time), INTERVAL '5' MINUTES))
    ) R WHERE L.window_start = R.window_start AND L.window_end = R.window_end)""",
    "window_join_anti_not_exists": """SELECT *
FROM (
    SELECT * FROM TABLE(TUMBLE(TABLE LeftTable, DESCRIPTOR(row_time), INTERVAL '5' MINUTES))
) L WHERE NOT EXISTS (
    SELECT * FROM (
        SELECT * FROM TABLE(TUMBLE(TABLE RightTable, DESCRIPTOR(row_time), INTERVAL '5' MINUTES))
    ) R WHERE L.num = R.num AND L.window_start = R.window_start AND L.window_end = R.window_end)""",
    "interval_join": """SELECT o.order_id, o.product, o.order_time, s.ship_id, s.ship_time
FROM Orders o, Shipments s
WHERE o.order_id = s.order_id
AND o.order_time BETWEEN s.ship_time - INTERVAL '4' MINUTE AND s.ship_time""",
    "interval_join_left": """SELECT o.order_id, o.amount, s.ship_id, s.ship_time
FROM Orders o LEFT JOIN Shipments s
ON o.order_id = s.order_id
AND o.order_time BETWEEN s.ship_time - INTERVAL '4' MINUTE AND s.ship_time""",
    "regular_join_left": """SELECT o.order_id, o.product, s.ship_id
FROM Orders o LEFT JOIN Shipments s
ON o.order_id = s.order_id""",
    "regular_join_full": """SELECT o.order_id, o.amount, s.ship_id, s.ship_time
FROM Orders o FULL OUTER JOIN Shipments s
ON o.order_id = s.order_id + 1 AND o.amount > 3""",
    "regular_join_of_aggregates": """SELECT p.product, p.orders, p.total, c.big
FROM (SELECT product, COUNT(*) AS orders, SUM(amount) AS total FROM Orders GROUP BY product) p
LEFT JOIN (SELECT product, COUNT(*) AS big FROM Orders WHERE amount > 5 GROUP BY product) c
ON p.product = c.product""",
    "regular_join_with_aggregate": """SELECT s.ship_id, s.order_id, m.product, m.last_order
FROM Shipments s
FULL JOIN (SELECT product, MAX(order_id) AS last_order FROM Orders GROUP BY product) m
ON s.order_id = m.last_order""",
    "temporal_join_left": """SELECT
     order_id,
     price,
     fx_orders.currency,
     conversion_rate,
     order_time
FROM fx_orders
LEFT JOIN currency_rates FOR SYSTEM_TIME AS OF fx_orders.order_time
ON fx_orders.currency = currency_rates.currency""",
    "temporal_join": """SELECT o.order_id, o.currency, r.conversion_rate, r.update_time
FROM fx_orders AS o
JOIN currency_rates FOR SYSTEM_TIME AS OF o.order_time AS r
ON o.currency = r.currency
WHERE o.price > 20""",
}

LEFT = [("2020-04-15 12:02:00", 1, "L1"), ("2020-04-15 12:06:00", 2, "L2"),
        ("2020-04-15 12:03:00", 3, "L3")]
RIGHT = [("2020-04-15 12:01:00", 2, "R2"), ("2020-04-15 12:04:00", 3, "R3"),
         ("2020-04-15 12:05:00", 4, "R4")]

BIDS = [
    ("2020-04-15 08:05:00", 4.00, "A", "supplier1"),
    ("2020-04-15 08:06:00", 4.00, "C", "supplier2"),
    ("2020-04-15 08:07:00", 2.00, "G", "supplier1"),
    ("2020-04-15 08:08:00", 2.00, "B", "supplier3"),
    ("2020-04-15 08:09:00", 5.00, "D", "supplier4"),
    ("2020-04-15 08:11:00", 2.00, "B", "supplier3"),
    ("2020-04-15 08:13:00", 1.00, "E", "supplier1"),
    ("2020-04-15 08:15:00", 3.00, "H", "supplier2"),
    ("2020-04-15 08:17:00", 6.00, "F", "supplier5"),
]


def orders():
    """80 orders from a fixed LCG: 6 products in 3 categories, amounts 1-12
    (ties), times 20 s apart with every fifth order at its predecessor's
    time (peers for RANGE), all in time order (no late rows)."""
    state = 12345
    time = datetime.datetime(2020, 4, 15, 8, 0, 0)
    rows = []
    for order_id in range(1, 81):
        state = (state * 1103515245 + 12345) % 2**31
        product = "p%d" % (state % 6)
        category = "c%d" % ((state // 6) % 3)
        amount = 1 + (state // 18) % 12
        if order_id % 5 != 0:
            time += datetime.timedelta(seconds=20)
        rows.append((order_id, product, category, amount, time.strftime("%Y-%m-%d %H:%M:%S")))
    return rows


def shipments():
    """A shipment for two orders in three, 1 to 7 minutes after the order
    (so some fall outside a 4-minute interval), in ship-time order."""
    rows = []
    for order_id, _, _, _, time in orders():
        if order_id % 3 == 0:
            continue
        ordered = datetime.datetime.strptime(time, "%Y-%m-%d %H:%M:%S")
        shipped = ordered + datetime.timedelta(minutes=1 + (order_id * 7) % 7)
        rows.append((shipped, order_id))
    rows.sort()
    return [(i + 1, order_id, t.strftime("%Y-%m-%d %H:%M:%S")) for i, (t, order_id) in enumerate(rows)]


def fx_orders():
    """60 orders 30 s apart from 08:00 in four currencies (from a fixed
    LCG), every seventh swapped with its predecessor (disorder under the
    watermark's 30 s)."""
    state = 777
    rows = []
    for i in range(60):
        state = (state * 1103515245 + 12345) % 2**31
        currency = ["EUR", "USD", "Yen", "GBP"][state % 4]
        price = "%d.%02d" % (1 + (state // 4) % 40, (state // 160) % 100)
        time = datetime.datetime(2020, 4, 15, 8, 0, 0) + datetime.timedelta(seconds=30 * i)
        rows.append(("o_%03d" % (i + 1), price, currency, time.strftime("%Y-%m-%d %H:%M:%S")))
    for i in range(7, 60, 7):
        rows[i - 1], rows[i] = rows[i], rows[i - 1]
    return rows


# The rates: (time, currency, rate) in time order but for one pair; GBP
# has none until 08:15; EUR's changes at 08:13:00, the very time of an EUR
# order (o_027: the version valid from its own time on).
RATES = [
    ("2020-04-15 07:59:00", "EUR", "1.14"), ("2020-04-15 07:59:00", "USD", "1.00"),
    ("2020-04-15 07:59:00", "Yen", "0.01"), ("2020-04-15 08:03:00", "Yen", "0.02"),
    ("2020-04-15 08:05:10", "EUR", "1.10"), ("2020-04-15 08:05:00", "USD", "1.02"),
    ("2020-04-15 08:07:00", "Yen", "0.03"), ("2020-04-15 08:13:00", "EUR", "1.12"),
    ("2020-04-15 08:15:00", "GBP", "1.31"), ("2020-04-15 08:20:00", "EUR", "1.17"),
    ("2020-04-15 08:24:00", "USD", "0.98"), ("2020-04-15 08:27:00", "GBP", "1.29"),
]


def cell(value):
    if isinstance(value, datetime.datetime):
        text = value.strftime("%Y-%m-%dT%H:%M:%S")
        millis = value.microsecond // 1000
        return text + (".%03d" % millis if millis else "")
    if value is None:
        return ""
    return str(value)


def run(t_env, sql):
    folded = {}
    with t_env.execute_sql(sql).collect() as results:
        for row in results:
            line = " | ".join(cell(v) for v in row)
            retracts = row.get_row_kind() in (RowKind.UPDATE_BEFORE, RowKind.DELETE)
            change = -1 if retracts else 1
            folded[line] = folded.get(line, 0) + change
            if folded[line] < 0:
                sys.exit("a retraction of a row not in the result: " + line)
    return sorted(line for line, n in folded.items() for _ in range(n))


def main():
    with open(os.path.join(HERE, "bid.csv"), "w") as f:
        for row in BIDS:
            f.write(",".join(str(v) for v in row) + "\n")
    with open(os.path.join(HERE, "orders.csv"), "w") as f:
        for row in orders():
            f.write(",".join(str(v) for v in row) + "\n")
    rates = [(currency, rate, time) for time, currency, rate in RATES]
    for file, rows in [("left.csv", LEFT), ("right.csv", RIGHT), ("shipments.csv", shipments()),
                       ("fx_orders.csv", fx_orders()), ("currency_rates.csv", rates)]:
        with open(os.path.join(HERE, file), "w") as f:
            for row in rows:
                f.write(",".join(str(v) for v in row) + "\n")
    settings = EnvironmentSettings.in_streaming_mode()
    t_env = TableEnvironment.create(settings)
    t_env.get_config().set("parallelism.default", "1")
    t_env.execute_sql(BID_DDL.format(dir=HERE))
    t_env.execute_sql(ORDERS_DDL.format(dir=HERE))
    t_env.execute_sql(SIDE_DDL.format(name="LeftTable", dir=HERE, file="left.csv"))
    t_env.execute_sql(SIDE_DDL.format(name="RightTable", dir=HERE, file="right.csv"))
    t_env.execute_sql(SHIPMENTS_DDL.format(dir=HERE))
    t_env.execute_sql(FX_ORDERS_DDL.format(dir=HERE))
    t_env.execute_sql(RATES_DDL.format(dir=HERE))
    t_env.execute_sql(WINDOW1)
    with open(os.path.join(HERE, "window1_view.sql"), "w") as f:
        f.write(WINDOW1 + "\n")
    for name, sql in CASES.items():
        rows = run(t_env, sql)
        with open(os.path.join(HERE, name + ".sql"), "w") as f:
            f.write(sql + "\n")
        with open(os.path.join(HERE, name + ".expected"), "w") as f:
            f.writelines(line + "\n" for line in rows)
        print(f"{name}: {len(rows)} rows")


if __name__ == "__main__":
    main()
