SELECT o.order_id, o.product, s.ship_id
FROM Orders o LEFT JOIN Shipments s
ON o.order_id = s.order_id
