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
--   open_deals: open CRM deals
--   open_pipeline_usd: amount of the open deals in USD (deals without a USD rate left out)
--   won_deals: closed-won CRM deals
--   won_amount_usd: amount of the won deals in USD (deals without a USD rate left out)
--   deals_without_usd: deals whose amount has no USD rate (not in the USD sums)
--   last_won_date: close date of the latest won deal
--   orders: ERP orders
--   revenue_usd: ERP revenue in USD (order lines after discount)
--   first_order_date: first ERP order
--   last_order_date: latest ERP order
--   tickets: CRM support tickets
--   open_tickets: tickets not closed
--   last_ticket_at: when the latest ticket was opened
--   activities: CRM calls, e-mails and meetings with the company's contacts or on its deals
--   last_activity_at: latest such activity
WITH deals AS (
    SELECT customer_key,
           COUNT(*) FILTER (WHERE is_open) AS open_deals,
           SUM(amount_usd) FILTER (WHERE is_open) AS open_pipeline_usd,
           COUNT(*) FILTER (WHERE is_won) AS won_deals,
           SUM(amount_usd) FILTER (WHERE is_won) AS won_amount_usd,
           COUNT(*) FILTER (WHERE amount IS NOT NULL AND amount_usd IS NULL) AS deals_without_usd,
           MAX(close_date) FILTER (WHERE is_won) AS last_won_date
    FROM fct_deals
    WHERE customer_key IS NOT NULL
    GROUP BY customer_key
),
sales AS (
    SELECT customer_key, COUNT(DISTINCT order_id) AS orders, SUM(net_amount_usd) AS revenue_usd,
           MIN(order_date) AS first_order_date, MAX(order_date) AS last_order_date
    FROM fct_sales
    WHERE customer_key IS NOT NULL
    GROUP BY customer_key
),
tickets AS (
    SELECT dc.customer_key, COUNT(*) AS tickets, COUNT(*) FILTER (WHERE t.stage <> 'closed') AS open_tickets,
           MAX(t.opened_at) AS last_ticket_at
    FROM stg_crm__tickets t
    JOIN dim_customer dc ON dc.crm_company_id = t.company_id
    GROUP BY dc.customer_key
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
    COALESCE(d.open_deals, 0) AS open_deals,
    CAST(COALESCE(d.open_pipeline_usd, 0) AS DECIMAL(18, 2)) AS open_pipeline_usd,
    COALESCE(d.won_deals, 0) AS won_deals,
    CAST(COALESCE(d.won_amount_usd, 0) AS DECIMAL(18, 2)) AS won_amount_usd,
    COALESCE(d.deals_without_usd, 0) AS deals_without_usd,
    d.last_won_date,
    COALESCE(s.orders, 0) AS orders,
    CAST(COALESCE(s.revenue_usd, 0) AS DECIMAL(18, 2)) AS revenue_usd,
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
