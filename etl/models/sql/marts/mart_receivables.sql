-- description: >-
--   Accounts receivable by customer as of the marts' as-of date: what is still owed, how much of it
--   is overdue, and in which ageing bucket (days past the due date), in USD. A total is null, not
--   zero, when an outstanding invoice in it has no USD rate (counted in invoices_without_usd).
-- grain: one row per customer with at least one ERP invoice
-- columns:
--   customer_key: the customer (dim_customer)
--   customer_name: customer name
--   invoices: invoices issued
--   outstanding_invoices: invoices not paid
--   outstanding_usd: amount not paid, USD
--   overdue_invoices: unpaid invoices past their due date
--   overdue_usd: amount past due, USD
--   current_usd: unpaid, not yet due
--   past_due_1_30_usd: 1-30 days past due
--   past_due_31_60_usd: 31-60 days past due
--   past_due_61_90_usd: 61-90 days past due
--   past_due_over_90_usd: more than 90 days past due
--   oldest_due_date: due date of the oldest unpaid invoice
--   invoices_without_usd: unpaid invoices with no USD rate (their totals are null)
--   as_of_date: the day ageing is measured on
WITH per_customer AS (
    SELECT customer_key, erp_customer_id, MIN(as_of_date) AS as_of_date,
           COUNT(*) AS invoices,
           COUNT(*) FILTER (WHERE is_outstanding) AS outstanding_invoices,
           COUNT(*) FILTER (WHERE is_outstanding AND days_past_due > 0) AS overdue_invoices,
           COUNT(*) FILTER (WHERE is_outstanding AND total_amount_usd IS NULL) AS invoices_without_usd,
           COALESCE(SUM(total_amount_usd) FILTER (WHERE is_outstanding), 0) AS outstanding_usd,
           COALESCE(SUM(total_amount_usd) FILTER (WHERE is_outstanding AND days_past_due > 0), 0) AS overdue_usd,
           COALESCE(SUM(total_amount_usd) FILTER (WHERE ageing_bucket = 'current'), 0) AS current_usd,
           COALESCE(SUM(total_amount_usd) FILTER (WHERE ageing_bucket = '1-30'), 0) AS d30,
           COALESCE(SUM(total_amount_usd) FILTER (WHERE ageing_bucket = '31-60'), 0) AS d60,
           COALESCE(SUM(total_amount_usd) FILTER (WHERE ageing_bucket = '61-90'), 0) AS d90,
           COALESCE(SUM(total_amount_usd) FILTER (WHERE ageing_bucket = '90+'), 0) AS d90plus,
           MIN(due_date) FILTER (WHERE is_outstanding) AS oldest_due_date
    FROM fct_invoices
    GROUP BY customer_key, erp_customer_id
)
SELECT
    COALESCE(p.customer_key, 'erp:' || p.erp_customer_id) AS customer_key,
    c.customer_name,
    p.invoices,
    p.outstanding_invoices,
    CAST(CASE WHEN p.invoices_without_usd = 0 THEN p.outstanding_usd END AS DECIMAL(18, 2)) AS outstanding_usd,
    p.overdue_invoices,
    CAST(CASE WHEN p.invoices_without_usd = 0 THEN p.overdue_usd END AS DECIMAL(18, 2)) AS overdue_usd,
    CAST(CASE WHEN p.invoices_without_usd = 0 THEN p.current_usd END AS DECIMAL(18, 2)) AS current_usd,
    CAST(CASE WHEN p.invoices_without_usd = 0 THEN p.d30 END AS DECIMAL(18, 2)) AS past_due_1_30_usd,
    CAST(CASE WHEN p.invoices_without_usd = 0 THEN p.d60 END AS DECIMAL(18, 2)) AS past_due_31_60_usd,
    CAST(CASE WHEN p.invoices_without_usd = 0 THEN p.d90 END AS DECIMAL(18, 2)) AS past_due_61_90_usd,
    CAST(CASE WHEN p.invoices_without_usd = 0 THEN p.d90plus END AS DECIMAL(18, 2)) AS past_due_over_90_usd,
    p.oldest_due_date,
    p.invoices_without_usd,
    p.as_of_date
FROM per_customer p
LEFT JOIN dim_customer c ON c.customer_key = p.customer_key
