-- Revenue per currency per day from checkout events; properties is JSON text.
SELECT dt,
       json_extract_scalar(properties, '$.currency') AS currency,
       sum(CAST(json_extract_scalar(properties, '$.total') AS double)) AS revenue,
       count(*) AS orders
FROM events
WHERE event_type = 'checkout.completed'
GROUP BY dt, json_extract_scalar(properties, '$.currency')
ORDER BY dt, currency;
