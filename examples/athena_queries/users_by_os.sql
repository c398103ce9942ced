-- Signed-in users and events per operating system and locale. context is a
-- struct column (its keys are declared in the schema), so its fields are
-- read like columns: no JSON parsing, and only these two fields are read.
SELECT context.os AS os,
       context.locale AS locale,
       count(DISTINCT user_id) AS users,
       count(*) AS events
FROM events
WHERE context.os IS NOT NULL
GROUP BY context.os, context.locale
ORDER BY users DESC, os, locale;
