-- One row per event_id: the first arrival wins. The pipeline already drops
-- retried duplicates within its dedup window; this covers retries beyond it.
SELECT event_id, event_type, event_time, user_id, received_at
FROM (
  SELECT event_id, event_type, event_time, user_id, received_at,
         row_number() OVER (PARTITION BY event_id ORDER BY received_at, client_id) AS rn
  FROM events
) t
WHERE rn = 1
ORDER BY event_id;
