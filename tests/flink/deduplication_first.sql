SELECT order_id, product, amount
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY product ORDER BY order_time ASC) AS row_num
  FROM Orders)
WHERE row_num = 1
