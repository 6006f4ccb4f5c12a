SELECT product, COUNT(*) AS orders, SUM(amount) AS total,
       MAX(amount) AS top, COUNT(DISTINCT category) AS categories
FROM Orders
GROUP BY product
HAVING COUNT(*) > 1
