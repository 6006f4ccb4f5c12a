SELECT order_id, order_time, amount,
  SUM(amount) OVER (
    PARTITION BY product
    ORDER BY order_time
    RANGE BETWEEN INTERVAL '1' MINUTE PRECEDING AND CURRENT ROW
  ) AS one_minute_prod_amount_sum
FROM Orders
