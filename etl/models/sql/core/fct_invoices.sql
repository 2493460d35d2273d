-- description: >-
--   ERP invoices with what is still owed and how late it is, as of the marts' as-of date
--   (model_settings.as_of_date, see mappings/models/analytics.yml). An invoice the ERP does not mark
--   paid is outstanding; its ageing bucket counts days past the due date.
-- grain: one row per ERP invoice
-- columns:
--   invoice_id: ERP invoice id
--   order_id: ERP order invoiced
--   customer_key: the customer (dim_customer)
--   erp_customer_id: ERP customer id
--   invoice_date: invoice date
--   due_date: payment due date
--   currency: invoice currency
--   total_amount: invoice total incl. tax, invoice currency
--   total_amount_usd: total in USD at the invoice date's rate (null without a rate)
--   erp_status: status in the ERP (paid, open, overdue)
--   is_outstanding: not paid
--   as_of_date: the day ageing is measured on
--   days_past_due: days from the due date to as_of_date (0 or less = not yet due); null when paid
--   ageing_bucket: "paid, current (not yet due), 1-30, 31-60, 61-90 or 90+ days past due"
SELECT
    i.invoice_id,
    i.order_id,
    dc.customer_key,
    i.customer_id AS erp_customer_id,
    i.invoice_date,
    i.due_date,
    i.currency,
    i.total_amount,
    i.total_amount_usd,
    i.status AS erp_status,
    i.status <> 'paid' AS is_outstanding,
    s.as_of_date,
    CASE WHEN i.status <> 'paid' THEN CAST(s.as_of_date - i.due_date AS INTEGER) END AS days_past_due,
    CASE WHEN i.status = 'paid' THEN 'paid'
         WHEN s.as_of_date - i.due_date <= 0 THEN 'current'
         WHEN s.as_of_date - i.due_date <= 30 THEN '1-30'
         WHEN s.as_of_date - i.due_date <= 60 THEN '31-60'
         WHEN s.as_of_date - i.due_date <= 90 THEN '61-90'
         ELSE '90+' END AS ageing_bucket
FROM stg_erp__invoices i
CROSS JOIN model_settings s
LEFT JOIN dim_customer dc ON dc.erp_customer_id = i.customer_id
