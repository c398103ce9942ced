-- A three-step funnel per user: app.opened, then product.viewed, then
-- checkout.completed, each step counted only if it came after the previous one.
WITH steps AS (
  SELECT user_id,
         min(CASE WHEN event_type = 'app.opened' THEN event_time END) AS t_open,
         min(CASE WHEN event_type = 'product.viewed' THEN event_time END) AS t_view,
         min(CASE WHEN event_type = 'checkout.completed' THEN event_time END) AS t_buy
  FROM events
  WHERE user_id IS NOT NULL
  GROUP BY user_id
)
SELECT count(t_open) AS opened,
       count(CASE WHEN t_view >= t_open THEN 1 END) AS viewed,
       count(CASE WHEN t_buy >= t_view AND t_view >= t_open THEN 1 END) AS purchased
FROM steps;
