SELECT order_id, product, amount, order_time
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY product ORDER BY order_time DESC) AS row_num
  FROM Orders)
WHERE row_num = 1
