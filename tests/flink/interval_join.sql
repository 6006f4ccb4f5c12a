SELECT o.order_id, o.product, o.order_time, s.ship_id, s.ship_time
FROM Orders o, Shipments s
WHERE o.order_id = s.order_id
AND o.order_time BETWEEN s.ship_time - INTERVAL '4' MINUTE AND s.ship_time
