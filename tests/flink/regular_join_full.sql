SELECT o.order_id, o.amount, s.ship_id, s.ship_time
FROM Orders o FULL OUTER JOIN Shipments s
ON o.order_id = s.order_id + 1 AND o.amount > 3
