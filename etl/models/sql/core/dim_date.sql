-- description: >-
--   Calendar: every day of every year that any fact touches (ERP orders and invoices, CRM deals,
--   activities and tickets, OA decisions), from 1 January of the first year to 31 December of the last.
--   Facts carry `<event>_date_key` columns that join to date_key.
-- grain: one row per calendar day
-- columns:
--   date_key: the day as an integer yyyymmdd (join key of the facts)
--   date_day: the day
--   year: calendar year
--   quarter: calendar quarter, 1-4
--   month: month, 1-12
--   month_name: English month name
--   year_month: "'YYYY-MM'"
--   first_day_of_month: first day of the day's month
--   day_of_month: day of the month, 1-31
--   day_of_week: ISO day of the week, 1 = Monday ... 7 = Sunday
--   day_name: English day name
--   iso_week: ISO week number, 1-53
--   is_weekend: Saturday or Sunday
WITH RECURSIVE fact_days AS (
    SELECT order_date AS d FROM stg_erp__orders
    UNION ALL SELECT shipped_date FROM stg_erp__orders
    UNION ALL SELECT invoice_date FROM stg_erp__invoices
    UNION ALL SELECT due_date FROM stg_erp__invoices
    UNION ALL SELECT close_date FROM stg_crm__deals
    UNION ALL SELECT CAST(created_at AS DATE) FROM stg_crm__deals
    UNION ALL SELECT CAST(occurred_at AS DATE) FROM stg_crm__activities
    UNION ALL SELECT CAST(opened_at AS DATE) FROM stg_crm__tickets
    UNION ALL SELECT CAST(decided_at AS DATE) FROM stg_oa__approvals
),
bounds AS (
    SELECT CAST(CAST(CAST(EXTRACT(YEAR FROM MIN(d)) AS INTEGER) AS VARCHAR) || '-01-01' AS DATE) AS first_day,
           CAST(CAST(CAST(EXTRACT(YEAR FROM MAX(d)) AS INTEGER) AS VARCHAR) || '-12-31' AS DATE) AS last_day
    FROM fact_days
),
days (date_day) AS (
    SELECT first_day FROM bounds WHERE first_day IS NOT NULL
    UNION ALL
    SELECT CAST(days.date_day + INTERVAL '1 day' AS DATE)
    FROM days, bounds
    WHERE days.date_day < bounds.last_day
),
parts AS (
    SELECT date_day,
           CAST(EXTRACT(YEAR FROM date_day) AS INTEGER) AS year,
           CAST(EXTRACT(QUARTER FROM date_day) AS INTEGER) AS quarter,
           CAST(EXTRACT(MONTH FROM date_day) AS INTEGER) AS month,
           CAST(EXTRACT(DAY FROM date_day) AS INTEGER) AS day_of_month,
           CAST(EXTRACT(ISODOW FROM date_day) AS INTEGER) AS day_of_week,
           CAST(EXTRACT(WEEK FROM date_day) AS INTEGER) AS iso_week
    FROM days
)
SELECT
    year * 10000 + month * 100 + day_of_month AS date_key,
    date_day,
    year,
    quarter,
    month,
    CASE month WHEN 1 THEN 'January' WHEN 2 THEN 'February' WHEN 3 THEN 'March' WHEN 4 THEN 'April'
               WHEN 5 THEN 'May' WHEN 6 THEN 'June' WHEN 7 THEN 'July' WHEN 8 THEN 'August'
               WHEN 9 THEN 'September' WHEN 10 THEN 'October' WHEN 11 THEN 'November'
               ELSE 'December' END AS month_name,
    CAST(year AS VARCHAR) || '-' || lpad(CAST(month AS VARCHAR), 2, '0') AS year_month,
    CAST(date_trunc('month', date_day) AS DATE) AS first_day_of_month,
    day_of_month,
    day_of_week,
    CASE day_of_week WHEN 1 THEN 'Monday' WHEN 2 THEN 'Tuesday' WHEN 3 THEN 'Wednesday'
                     WHEN 4 THEN 'Thursday' WHEN 5 THEN 'Friday' WHEN 6 THEN 'Saturday'
                     ELSE 'Sunday' END AS day_name,
    iso_week,
    day_of_week IN (6, 7) AS is_weekend
FROM parts
