-- description: >-
--   ERP sales by product and product category, by name, per month, in USD: what sells, in which
--   category, to how many customers.
-- grain: one row per order month and product
-- columns:
--   order_month: first day of the month the orders were placed in
--   year_month: "'YYYY-MM' of order_month"
--   category_name: product category (Beverages, Condiments, ...); null when the ERP has no category for the product
--   product_name: product name
--   product_id: ERP product id
--   category_id: ERP category id
--   orders: orders holding the product
--   customers: distinct customers who bought it
--   units: units sold
--   gross_amount_usd: list value in USD, before discounts
--   revenue_usd: revenue in USD after discounts
WITH monthly AS (
    SELECT CAST(date_trunc('month', order_date) AS DATE) AS order_month, product_id,
           MIN(product_name) AS product_name, MIN(category_id) AS category_id, MIN(category_name) AS category_name,
           COUNT(DISTINCT order_id) AS orders, COUNT(DISTINCT customer_key) AS customers,
           SUM(quantity) AS units, SUM(gross_amount_usd) AS gross_amount_usd, SUM(net_amount_usd) AS revenue_usd
    FROM fct_sales
    GROUP BY CAST(date_trunc('month', order_date) AS DATE), product_id
)
SELECT
    order_month,
    CAST(CAST(EXTRACT(YEAR FROM order_month) AS INTEGER) AS VARCHAR) || '-'
        || lpad(CAST(CAST(EXTRACT(MONTH FROM order_month) AS INTEGER) AS VARCHAR), 2, '0') AS year_month,
    category_name,
    product_name,
    product_id,
    category_id,
    orders,
    customers,
    CAST(units AS BIGINT) AS units,
    CAST(gross_amount_usd AS DECIMAL(18, 2)) AS gross_amount_usd,
    CAST(revenue_usd AS DECIMAL(18, 2)) AS revenue_usd
FROM monthly
