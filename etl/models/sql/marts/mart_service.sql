-- description: >-
--   Customer service by ticket category and priority: volume, the open backlog and its age, and how
--   fast tickets get a first answer and a resolution (hours, average and median).
-- grain: one row per ticket category and priority
-- columns:
--   category: ticket category; null for tickets the CRM gives none
--   priority: ticket priority
--   tickets: tickets opened
--   open_tickets: tickets not closed (the backlog)
--   closed_tickets: tickets closed
--   unanswered_tickets: tickets with no agent reply yet
--   oldest_open_at: when the oldest open ticket was opened (UTC)
--   avg_hours_to_first_response: average hours to the first reply (answered tickets)
--   median_hours_to_first_response: median hours to the first reply
--   avg_hours_to_resolution: average hours from opening to closing (closed tickets)
--   median_hours_to_resolution: median hours from opening to closing
SELECT
    category,
    priority,
    COUNT(*) AS tickets,
    COUNT(*) FILTER (WHERE is_open) AS open_tickets,
    COUNT(*) FILTER (WHERE NOT is_open) AS closed_tickets,
    COUNT(*) FILTER (WHERE first_response_at IS NULL) AS unanswered_tickets,
    MIN(opened_at) FILTER (WHERE is_open) AS oldest_open_at,
    -- via DECIMAL(14, 4): DuckDB computes these in binary floating point, PostgreSQL in decimal; a
    -- float 2.425 (2.42499999...) would round to 2.42 on one and 2.43 on the other.
    CAST(CAST(AVG(hours_to_first_response) AS DECIMAL(14, 4)) AS DECIMAL(10, 2)) AS avg_hours_to_first_response,
    CAST(CAST(percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(hours_to_first_response AS DOUBLE PRECISION))
              AS DECIMAL(14, 4)) AS DECIMAL(10, 2)) AS median_hours_to_first_response,
    CAST(CAST(AVG(hours_to_resolution) AS DECIMAL(14, 4)) AS DECIMAL(10, 2)) AS avg_hours_to_resolution,
    CAST(CAST(percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(hours_to_resolution AS DOUBLE PRECISION))
              AS DECIMAL(14, 4)) AS DECIMAL(10, 2)) AS median_hours_to_resolution
FROM fct_tickets
GROUP BY category, priority
