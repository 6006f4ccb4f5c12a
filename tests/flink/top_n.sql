SELECT category, product, amount
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY category ORDER BY amount DESC) AS row_num
  FROM Orders)
WHERE row_num <= 3
