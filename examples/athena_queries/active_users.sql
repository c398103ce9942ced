-- Daily active users: distinct signed-in users per UTC day (anonymous events
-- have a null user_id and are not counted).
SELECT dt, count(DISTINCT user_id) AS active_users
FROM events
WHERE user_id IS NOT NULL
GROUP BY dt
ORDER BY dt;
