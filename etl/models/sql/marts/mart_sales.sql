-- description: >-
--   ERP sales by month, customer and sales rep, in USD: the table behind revenue trends, top
--   customers and rep leaderboards.
-- grain: one row per order month, customer and sales rep
-- columns:
--   order_month: first day of the month the orders were placed in
--   year_month: "'YYYY-MM' of order_month"
--   customer_key: the customer (dim_customer)
--   customer_name: customer name
--   customer_country: customer country
--   sales_rep_key: the rep who took the orders (dim_sales_rep)
--   sales_rep_name: the rep's name
--   orders: orders placed
--   order_lines: order lines
--   units: units ordered
--   gross_amount_usd: list value in USD, before discounts
--   discount_usd: discounts given, USD
--   revenue_usd: revenue in USD after discounts
WITH monthly AS (
    SELECT CAST(date_trunc('month', s.order_date) AS DATE) AS order_month, s.customer_key, s.sales_rep_key,
           COUNT(DISTINCT s.order_id) AS orders, COUNT(*) AS order_lines, SUM(s.quantity) AS units,
           SUM(s.gross_amount_usd) AS gross_amount_usd, SUM(s.net_amount_usd) AS revenue_usd
    FROM fct_sales s
    GROUP BY CAST(date_trunc('month', s.order_date) AS DATE), s.customer_key, s.sales_rep_key
)
SELECT
    m.order_month,
    CAST(CAST(EXTRACT(YEAR FROM m.order_month) AS INTEGER) AS VARCHAR) || '-'
        || lpad(CAST(CAST(EXTRACT(MONTH FROM m.order_month) AS INTEGER) AS VARCHAR), 2, '0') AS year_month,
    m.customer_key,
    c.customer_name,
    c.country AS customer_country,
    m.sales_rep_key,
    r.full_name AS sales_rep_name,
    m.orders,
    m.order_lines,
    CAST(m.units AS BIGINT) AS units,
    CAST(m.gross_amount_usd AS DECIMAL(18, 2)) AS gross_amount_usd,
    CAST(m.gross_amount_usd - m.revenue_usd AS DECIMAL(18, 2)) AS discount_usd,
    CAST(m.revenue_usd AS DECIMAL(18, 2)) AS revenue_usd
FROM monthly m
LEFT JOIN dim_customer c ON c.customer_key = m.customer_key
LEFT JOIN dim_sales_rep r ON r.sales_rep_key = m.sales_rep_key
