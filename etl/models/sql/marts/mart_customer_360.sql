-- description: >-
--   Everything about a customer on one row: who it is in the CRM and the ERP (and how sure the link
--   is), its pipeline and won business (CRM), orders and revenue (ERP), support tickets and the last
--   time anyone from sales was in touch.
-- grain: one row per customer (dim_customer)
-- columns:
--   customer_key: the customer (dim_customer)
--   customer_name: name (ERP, else CRM)
--   crm_company_id: CRM company id
--   erp_customer_id: ERP customer id
--   match_rule: how CRM and ERP were linked (null when the customer is in one system only)
--   match_confidence: the link's confidence, 0-1
--   country: country
--   lifecycle_stage: CRM lifecycle stage
--   erp_status: ERP account status
--   account_owner_key: CRM owner of the company (dim_sales_rep)
--   account_owner_name: that owner's name
--   account_owner_department: that owner's department in HR (null when the owner is not found in HR)
--   open_deals: open CRM deals
--   open_pipeline_usd: amount of the open deals in USD; null, not zero, when an open deal has no USD amount
--   won_deals: closed-won CRM deals
--   won_amount_usd: amount of the won deals in USD; null, not zero, when a won deal has no USD amount
--   deals_without_usd: deals whose amount has no USD rate (not in the USD sums)
--   last_won_date: close date of the latest won deal
--   orders: ERP orders
--   revenue_usd: ERP revenue in USD (order lines after discount)
--   revenue_t12m_usd: ERP revenue in USD of the 12 months up to the as-of date (model_settings.as_of_date)
--   first_order_date: first ERP order
--   last_order_date: latest ERP order
--   tickets: CRM support tickets of the customer (the ticket's company, else its contact's company; fct_tickets)
--   open_tickets: tickets not closed
--   last_ticket_at: when the latest ticket was opened
--   activities: CRM calls, e-mails and meetings with the company's contacts or on its deals
--   last_activity_at: latest such activity
WITH deals AS (
    SELECT customer_key,
           COUNT(*) FILTER (WHERE is_open) AS open_deals,
           CASE WHEN COUNT(*) FILTER (WHERE is_open AND amount_usd IS NULL) = 0
                THEN COALESCE(SUM(amount_usd) FILTER (WHERE is_open), 0) END AS open_pipeline_usd,
           COUNT(*) FILTER (WHERE is_won) AS won_deals,
           CASE WHEN COUNT(*) FILTER (WHERE is_won AND amount_usd IS NULL) = 0
                THEN COALESCE(SUM(amount_usd) FILTER (WHERE is_won), 0) END AS won_amount_usd,
           COUNT(*) FILTER (WHERE amount IS NOT NULL AND amount_usd IS NULL) AS deals_without_usd,
           MAX(close_date) FILTER (WHERE is_won) AS last_won_date
    FROM fct_deals
    WHERE customer_key IS NOT NULL
    GROUP BY customer_key
),
sales AS (
    SELECT f.customer_key, COUNT(DISTINCT f.order_id) AS orders, SUM(f.net_amount_usd) AS revenue_usd,
           SUM(f.net_amount_usd) FILTER (WHERE f.order_date <= s.as_of_date
                                         AND f.order_date > CAST(s.as_of_date - INTERVAL '1 year' AS DATE))
               AS revenue_t12m_usd,
           MIN(f.order_date) AS first_order_date, MAX(f.order_date) AS last_order_date
    FROM fct_sales f
    CROSS JOIN model_settings s
    WHERE f.customer_key IS NOT NULL
    GROUP BY f.customer_key
),
tickets AS (
    SELECT customer_key, COUNT(*) AS tickets, COUNT(*) FILTER (WHERE is_open) AS open_tickets,
           MAX(opened_at) AS last_ticket_at
    FROM fct_tickets
    WHERE customer_key IS NOT NULL
    GROUP BY customer_key
),
activity AS (
    SELECT dc.customer_key, COUNT(*) AS activities, MAX(a.occurred_at) AS last_activity_at
    FROM stg_crm__activities a
    LEFT JOIN stg_crm__deals d ON d.id = a.deal_id
    LEFT JOIN stg_crm__contacts c ON c.id = a.contact_id
    JOIN dim_customer dc ON dc.crm_company_id = COALESCE(d.company_id, c.company_id)
    GROUP BY dc.customer_key
)
SELECT
    c.customer_key,
    c.customer_name,
    c.crm_company_id,
    c.erp_customer_id,
    c.match_rule,
    c.match_confidence,
    c.country,
    c.lifecycle_stage,
    c.erp_status,
    c.account_owner_key,
    r.full_name AS account_owner_name,
    r.hr_department AS account_owner_department,
    COALESCE(d.open_deals, 0) AS open_deals,
    CAST(CASE WHEN d.customer_key IS NULL THEN 0 ELSE d.open_pipeline_usd END AS DECIMAL(18, 2)) AS open_pipeline_usd,
    COALESCE(d.won_deals, 0) AS won_deals,
    CAST(CASE WHEN d.customer_key IS NULL THEN 0 ELSE d.won_amount_usd END AS DECIMAL(18, 2)) AS won_amount_usd,
    COALESCE(d.deals_without_usd, 0) AS deals_without_usd,
    d.last_won_date,
    COALESCE(s.orders, 0) AS orders,
    CAST(COALESCE(s.revenue_usd, 0) AS DECIMAL(18, 2)) AS revenue_usd,
    CAST(COALESCE(s.revenue_t12m_usd, 0) AS DECIMAL(18, 2)) AS revenue_t12m_usd,
    s.first_order_date,
    s.last_order_date,
    COALESCE(t.tickets, 0) AS tickets,
    COALESCE(t.open_tickets, 0) AS open_tickets,
    t.last_ticket_at,
    COALESCE(a.activities, 0) AS activities,
    a.last_activity_at
FROM dim_customer c
LEFT JOIN dim_sales_rep r ON r.sales_rep_key = c.account_owner_key
LEFT JOIN deals d ON d.customer_key = c.customer_key
LEFT JOIN sales s ON s.customer_key = c.customer_key
LEFT JOIN tickets t ON t.customer_key = c.customer_key
LEFT JOIN activity a ON a.customer_key = c.customer_key
