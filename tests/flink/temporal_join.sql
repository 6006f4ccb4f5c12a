SELECT o.order_id, o.currency, r.conversion_rate, r.update_time
FROM fx_orders AS o
JOIN currency_rates FOR SYSTEM_TIME AS OF o.order_time AS r
ON o.currency = r.currency
WHERE o.price > 20
