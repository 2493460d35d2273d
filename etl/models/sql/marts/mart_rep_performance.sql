-- description: >-
--   One scorecard per sales rep across systems: CRM deals and activities, ERP orders and revenue, and
--   OA approvals when the rep also approves purchases. A rep found in several systems (xwalk_person)
--   is counted once.
-- grain: one row per sales rep (dim_sales_rep)
-- columns:
--   sales_rep_key: the rep (dim_sales_rep)
--   full_name: name
--   email: work e-mail
--   hr_department: department in HR (null when the rep is not found in HR)
--   crm_owner_id: CRM owner id
--   erp_sales_rep_id: ERP employee id
--   hr_employee_id: HR employee id
--   accounts_owned: CRM companies the rep owns (dim_customer.account_owner_key)
--   deals: CRM deals owned
--   open_deals: open deals
--   deals_won: closed-won deals
--   deals_lost: closed-lost deals
--   win_rate: won / (won + lost), 0-1
--   won_amount_usd: amount of won deals in USD; null, not zero, when a won deal has no USD amount
--   orders: ERP orders taken
--   customers_served: distinct customers of those orders
--   revenue_usd: ERP revenue in USD
--   activities: CRM calls, e-mails and meetings logged
--   calls: calls logged
--   emails: e-mails logged
--   meetings: meetings logged
--   last_activity_at: latest activity
--   approvals_decided: OA approval steps the rep decided
WITH deals AS (
    SELECT sales_rep_key, COUNT(*) AS deals, COUNT(*) FILTER (WHERE is_open) AS open_deals,
           COUNT(*) FILTER (WHERE is_won) AS deals_won,
           COUNT(*) FILTER (WHERE stage = 'closedlost') AS deals_lost,
           CASE WHEN COUNT(*) FILTER (WHERE is_won AND amount_usd IS NULL) = 0
                THEN COALESCE(SUM(amount_usd) FILTER (WHERE is_won), 0) END AS won_amount_usd
    FROM fct_deals
    GROUP BY sales_rep_key
),
sales AS (
    SELECT sales_rep_key, COUNT(DISTINCT order_id) AS orders, COUNT(DISTINCT customer_key) AS customers_served,
           SUM(net_amount_usd) AS revenue_usd
    FROM fct_sales
    GROUP BY sales_rep_key
),
activities AS (
    SELECT r.sales_rep_key, COUNT(*) AS activities,
           COUNT(*) FILTER (WHERE a.activity_type = 'CALL') AS calls,
           COUNT(*) FILTER (WHERE a.activity_type = 'EMAIL') AS emails,
           COUNT(*) FILTER (WHERE a.activity_type = 'MEETING') AS meetings,
           MAX(a.occurred_at) AS last_activity_at
    FROM stg_crm__activities a
    JOIN dim_sales_rep r ON r.crm_owner_id = a.owner_id
    GROUP BY r.sales_rep_key
),
approvals AS (
    SELECT approver_key, COUNT(*) FILTER (WHERE is_decided) AS approvals_decided
    FROM fct_approvals
    GROUP BY approver_key
),
accounts AS (
    SELECT account_owner_key, COUNT(*) AS accounts_owned
    FROM dim_customer
    WHERE in_crm
    GROUP BY account_owner_key
)
SELECT
    r.sales_rep_key,
    r.full_name,
    r.email,
    r.hr_department,
    r.crm_owner_id,
    r.erp_sales_rep_id,
    r.hr_employee_id,
    COALESCE(ac.accounts_owned, 0) AS accounts_owned,
    COALESCE(d.deals, 0) AS deals,
    COALESCE(d.open_deals, 0) AS open_deals,
    COALESCE(d.deals_won, 0) AS deals_won,
    COALESCE(d.deals_lost, 0) AS deals_lost,
    CAST(CAST(d.deals_won AS DECIMAL(12, 4)) / NULLIF(d.deals_won + d.deals_lost, 0) AS DECIMAL(6, 4)) AS win_rate,
    CAST(CASE WHEN d.sales_rep_key IS NULL THEN 0 ELSE d.won_amount_usd END AS DECIMAL(18, 2)) AS won_amount_usd,
    COALESCE(s.orders, 0) AS orders,
    COALESCE(s.customers_served, 0) AS customers_served,
    CAST(COALESCE(s.revenue_usd, 0) AS DECIMAL(18, 2)) AS revenue_usd,
    COALESCE(a.activities, 0) AS activities,
    COALESCE(a.calls, 0) AS calls,
    COALESCE(a.emails, 0) AS emails,
    COALESCE(a.meetings, 0) AS meetings,
    a.last_activity_at,
    COALESCE(ap.approvals_decided, 0) AS approvals_decided
FROM dim_sales_rep r
LEFT JOIN accounts ac ON ac.account_owner_key = r.sales_rep_key
LEFT JOIN deals d ON d.sales_rep_key = r.sales_rep_key
LEFT JOIN sales s ON s.sales_rep_key = r.sales_rep_key
LEFT JOIN activities a ON a.sales_rep_key = r.sales_rep_key
LEFT JOIN approvals ap ON ap.approver_key = r.sales_rep_key
