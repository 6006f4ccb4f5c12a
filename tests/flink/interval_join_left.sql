SELECT o.order_id, o.amount, s.ship_id, s.ship_time
FROM Orders o LEFT JOIN Shipments s
ON o.order_id = s.order_id
AND o.order_time BETWEEN s.ship_time - INTERVAL '4' MINUTE AND s.ship_time
