-- Late events: received more than an hour after they happened on the device
-- (offline clients, retries). They land in the partition of their arrival.
SELECT event_type,
       count(*) AS late_events,
       max(date_diff('second', event_time, received_at)) AS max_delay_s
FROM events
WHERE date_diff('second', event_time, received_at) > 3600
GROUP BY event_type
ORDER BY late_events DESC, event_type;
