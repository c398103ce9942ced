-- Events per type per hour (UTC, by arrival), for the last days of data.
-- Partition columns in the WHERE clause let Athena read only those prefixes.
SELECT dt, hour, event_type, count(*) AS events
FROM events
WHERE dt >= '2024-01-01'
GROUP BY dt, hour, event_type
ORDER BY dt, hour, event_type;
