-- description: >-
--   Deals of every CRM in the warehouse (from the conformed crm_deals), with their stage, amount in the deal's currency and in USD, customer and owner conformed
--   across systems. USD uses the ERP's rate for the deal currency on the close date or up to 7 days
--   before (weekends, holidays); with no rate in that window amount_usd stays null rather than using a
--   stale rate, and marts count such deals apart.
-- grain: one row per deal per source system
-- columns:
--   source_system: the CRM the deal comes from (mappings/<system>/)
--   deal_id: the deal's id in its CRM
--   deal_name: deal name
--   pipeline: CRM pipeline (default, renewals, partners)
--   stage: pipeline stage
--   stage_order: position of a HubSpot-style stage, 1 = first; closed won 6, closed lost 7; null for other CRMs' stages
--   is_open: the deal is not closed
--   is_won: the deal is closed won
--   is_closed: the deal is closed (won or lost)
--   amount: amount in the deal currency
--   currency: deal currency
--   fx_rate_to_usd: USD per unit of the currency used for amount_usd (1 for USD)
--   amount_usd: amount in USD; null when no rate within 7 days before the close date
--   close_date: expected or actual close date
--   close_date_key: close_date as yyyymmdd (dim_date)
--   created_date: day the deal was created
--   days_to_close: days from creation to close date
--   customer_key: the customer (dim_customer), for the CRM whose companies dim_customer matches
--   crm_company_id: the deal's company in its CRM (crm_accounts.account_id)
--   sales_rep_key: the deal owner (dim_sales_rep)
--   crm_owner_id: CRM owner id
WITH rates AS (
    SELECT d.source_system, d.deal_id, f.rate_to_usd,
           row_number() OVER (PARTITION BY d.source_system, d.deal_id ORDER BY f.rate_date DESC) AS newest
    FROM crm_deals d
    JOIN stg_erp__fx_rates f
      ON f.currency = d.currency
     AND f.rate_date <= d.close_date
     AND f.rate_date > CAST(d.close_date - INTERVAL '7 days' AS DATE)
),
priced AS (
    SELECT d.*,
           CASE WHEN d.currency = 'USD' THEN CAST(1 AS DECIMAL(18, 6)) ELSE r.rate_to_usd END AS fx_rate_to_usd,
           COALESCE(d.is_closed, FALSE) AS closed
    FROM crm_deals d
    LEFT JOIN rates r ON r.source_system = d.source_system AND r.deal_id = d.deal_id AND r.newest = 1
)
SELECT
    d.source_system,
    d.deal_id,
    d.deal_name,
    d.pipeline,
    d.stage,
    CASE d.stage WHEN 'appointmentscheduled' THEN 1 WHEN 'qualifiedtobuy' THEN 2
                 WHEN 'presentationscheduled' THEN 3 WHEN 'decisionmakerboughtin' THEN 4
                 WHEN 'contractsent' THEN 5 WHEN 'closedwon' THEN 6 WHEN 'closedlost' THEN 7 END AS stage_order,
    NOT d.closed AS is_open,
    COALESCE(d.is_won, FALSE) AS is_won,
    d.closed AS is_closed,
    d.amount,
    d.currency,
    d.fx_rate_to_usd,
    CAST(d.amount * d.fx_rate_to_usd AS DECIMAL(18, 2)) AS amount_usd,
    d.close_date,
    CAST(EXTRACT(YEAR FROM d.close_date) * 10000 + EXTRACT(MONTH FROM d.close_date) * 100
         + EXTRACT(DAY FROM d.close_date) AS INTEGER) AS close_date_key,
    CAST(d.created_at AS DATE) AS created_date,
    d.close_date - CAST(d.created_at AS DATE) AS days_to_close,
    dc.customer_key,
    d.account_id AS crm_company_id,
    sr.sales_rep_key,
    d.owner_id AS crm_owner_id
FROM priced d
-- dim_customer and dim_sales_rep match the `crm` system's companies and owners (etl.identity);
-- another CRM's deals keep their own ids in crm_company_id / crm_owner_id.
LEFT JOIN dim_customer dc ON dc.crm_company_id = d.account_id AND d.source_system = 'crm'
LEFT JOIN dim_sales_rep sr ON sr.crm_owner_id = d.owner_id AND d.source_system = 'crm'
