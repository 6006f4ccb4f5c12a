SELECT p.product, p.orders, p.total, c.big
FROM (SELECT product, COUNT(*) AS orders, SUM(amount) AS total FROM Orders GROUP BY product) p
LEFT JOIN (SELECT product, COUNT(*) AS big FROM Orders WHERE amount > 5 GROUP BY product) c
ON p.product = c.product
