-- description: >-
--   ERP sales at order-line level, in the order's currency and in USD (the reporting currency) at the
--   ERP's rate of the order date, with the customer and sales rep conformed across systems. Lines of
--   orders without a USD rate that day were quarantined at load and are not here.
-- grain: one row per ERP order line
-- columns:
--   line_id: ERP order line id
--   order_id: ERP order id
--   order_date: day the order was placed
--   order_date_key: order_date as yyyymmdd (dim_date)
--   customer_key: the customer (dim_customer)
--   erp_customer_id: ERP customer id of the order
--   sales_rep_key: the rep who took the order (dim_sales_rep)
--   erp_sales_rep_id: ERP employee id on the order
--   product_id: ERP product id
--   product_name: product name
--   category_id: ERP product category id
--   category_name: product category name (stg_erp__categories)
--   quantity: units ordered
--   unit_price: unit price in the order's currency
--   discount: discount share, 0-1
--   currency: the order's currency
--   gross_amount: unit_price x quantity, order currency
--   net_amount: gross_amount after discount, order currency
--   fx_rate_to_usd: USD per unit of the order currency on fx_rate_date (1 for USD)
--   fx_rate_date: date of the rate used
--   gross_amount_usd: gross_amount in USD
--   net_amount_usd: net_amount in USD (revenue)
--   shipped_date: day the order shipped (null while open)
--   ship_country: country shipped to
SELECT
    l.line_id,
    l.order_id,
    l.order_date,
    CAST(EXTRACT(YEAR FROM l.order_date) * 10000 + EXTRACT(MONTH FROM l.order_date) * 100
         + EXTRACT(DAY FROM l.order_date) AS INTEGER) AS order_date_key,
    dc.customer_key,
    o.customer_id AS erp_customer_id,
    sr.sales_rep_key,
    CAST(o.employee_id AS VARCHAR) AS erp_sales_rep_id,
    l.product_id,
    p.product_name,
    p.category_id,
    cat.category_name,
    l.quantity,
    l.unit_price,
    l.discount,
    l.currency,
    CAST(l.unit_price * l.quantity AS DECIMAL(18, 2)) AS gross_amount,
    CAST(l.unit_price * l.quantity * (1 - l.discount) AS DECIMAL(18, 2)) AS net_amount,
    l.unit_price_usd_rate AS fx_rate_to_usd,
    l.unit_price_usd_rate_date AS fx_rate_date,
    CAST(l.unit_price * l.quantity * l.unit_price_usd_rate AS DECIMAL(18, 2)) AS gross_amount_usd,
    CAST(l.unit_price * l.quantity * (1 - l.discount) * l.unit_price_usd_rate AS DECIMAL(18, 2)) AS net_amount_usd,
    o.shipped_date,
    o.ship_country
FROM stg_erp__order_lines l
LEFT JOIN stg_erp__orders o ON o.order_id = l.order_id
LEFT JOIN dim_customer dc ON dc.erp_customer_id = o.customer_id
LEFT JOIN dim_sales_rep sr ON sr.erp_sales_rep_id = CAST(o.employee_id AS VARCHAR)
LEFT JOIN stg_erp__products p ON p.product_id = l.product_id
LEFT JOIN stg_erp__categories cat ON cat.category_id = p.category_id
