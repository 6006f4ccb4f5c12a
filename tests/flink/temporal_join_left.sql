SELECT
     order_id,
     price,
     fx_orders.currency,
     conversion_rate,
     order_time
FROM fx_orders
LEFT JOIN currency_rates FOR SYSTEM_TIME AS OF fx_orders.order_time
ON fx_orders.currency = currency_rates.currency
