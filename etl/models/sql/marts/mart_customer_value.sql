-- description: >-
--   RFM (recency, frequency, monetary value) of every customer with ERP orders, as of the marts'
--   as-of date (model_settings.as_of_date; mappings/models/analytics.yml). Each score is the
--   customer's quintile, 1-5 with 5 best, from its percent rank among all customers, so equal values
--   get equal scores; the segment is the first rule of mappings/models/analytics.yml that matches.
-- grain: one row per customer with at least one ERP order on or before the as-of date
-- columns:
--   customer_key: the customer (dim_customer)
--   recency_days: days from the latest order to the as-of date
--   frequency: orders placed up to the as-of date
--   monetary: revenue of those orders in USD (after discounts)
--   r_score: recency score, 1-5 (5 = most recent)
--   f_score: frequency score, 1-5 (5 = most orders)
--   m_score: monetary score, 1-5 (5 = highest revenue)
--   segment: RFM segment (champions, loyal, new, promising, at_risk, hibernating, needs_attention)
--   rfm_cell: the three scores as text, e.g. '545'
--   customer_name: customer name
--   first_order_date: first order
--   last_order_date: latest order up to the as-of date
--   as_of_date: the day recency is counted to
WITH settings AS (
    SELECT as_of_date FROM model_settings
),
orders AS (
    SELECT f.customer_key, f.order_id, MIN(f.order_date) AS order_date, SUM(f.net_amount_usd) AS amount_usd
    FROM fct_sales f
    CROSS JOIN settings s
    WHERE f.customer_key IS NOT NULL AND f.order_date <= s.as_of_date
    GROUP BY f.customer_key, f.order_id
),
base AS (
    SELECT o.customer_key, s.as_of_date,
           CAST(s.as_of_date - MAX(o.order_date) AS INTEGER) AS recency_days,
           COUNT(*) AS frequency,
           CAST(SUM(o.amount_usd) AS DECIMAL(18, 2)) AS monetary,
           MIN(o.order_date) AS first_order_date,
           MAX(o.order_date) AS last_order_date
    FROM orders o
    CROSS JOIN settings s
    GROUP BY o.customer_key, s.as_of_date
),
scored AS (
    SELECT b.*,
           1 + LEAST(4, CAST(FLOOR(PERCENT_RANK() OVER (ORDER BY recency_days DESC) * 5) AS INTEGER)) AS r_score,
           1 + LEAST(4, CAST(FLOOR(PERCENT_RANK() OVER (ORDER BY frequency) * 5) AS INTEGER)) AS f_score,
           1 + LEAST(4, CAST(FLOOR(PERCENT_RANK() OVER (ORDER BY monetary) * 5) AS INTEGER)) AS m_score
    FROM base b
),
segmented AS (
    SELECT sc.customer_key, g.segment,
           row_number() OVER (PARTITION BY sc.customer_key ORDER BY g.priority) AS pick
    FROM scored sc
    JOIN model_rfm_segments g
      ON sc.r_score BETWEEN g.r_min AND g.r_max
     AND sc.f_score BETWEEN g.f_min AND g.f_max
     AND sc.m_score BETWEEN g.m_min AND g.m_max
)
SELECT
    sc.customer_key,
    sc.recency_days,
    sc.frequency,
    sc.monetary,
    sc.r_score,
    sc.f_score,
    sc.m_score,
    sg.segment,
    CAST(sc.r_score AS VARCHAR) || CAST(sc.f_score AS VARCHAR) || CAST(sc.m_score AS VARCHAR) AS rfm_cell,
    c.customer_name,
    sc.first_order_date,
    sc.last_order_date,
    sc.as_of_date
FROM scored sc
LEFT JOIN segmented sg ON sg.customer_key = sc.customer_key AND sg.pick = 1
LEFT JOIN dim_customer c ON c.customer_key = sc.customer_key
