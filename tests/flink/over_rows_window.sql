SELECT order_id, order_time, amount,
  MAX(amount) OVER w AS max_amount,
  COUNT(amount) OVER w AS cnt
FROM Orders
WINDOW w AS (
  PARTITION BY product
  ORDER BY order_time
  ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)
