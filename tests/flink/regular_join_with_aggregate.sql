SELECT s.ship_id, s.order_id, m.product, m.last_order
FROM Shipments s
FULL JOIN (SELECT product, MAX(order_id) AS last_order FROM Orders GROUP BY product) m
ON s.order_id = m.last_order
