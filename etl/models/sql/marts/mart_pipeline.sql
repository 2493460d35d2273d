-- description: >-
--   The CRM pipeline by stage and owner: how many deals sit where, for how much, in the deal currency
--   and in USD. Amounts are summed per currency; amount_usd is null, not a partial sum, when a deal
--   of the row has no USD amount (counted in deals_without_usd).
-- grain: one row per pipeline, stage, owner and deal currency
-- columns:
--   pipeline: CRM pipeline
--   stage: pipeline stage
--   stage_order: position of the stage, 1 = first; 6 closed won, 7 closed lost
--   is_closed: the stage is closed won or closed lost
--   is_won: the stage is closed won
--   sales_rep_key: the deal owner (dim_sales_rep)
--   sales_rep_name: the owner's name
--   currency: deal currency
--   deals: number of deals
--   amount: total amount in the deal currency
--   amount_usd: total amount in USD; null when any deal of the row has no USD amount
--   deals_without_usd: deals with an amount but no USD rate
--   avg_days_to_close: average days from creation to close date
--   next_close_date: earliest close date among the deals
SELECT
    d.pipeline,
    d.stage,
    d.stage_order,
    d.is_closed,
    d.is_won,
    d.sales_rep_key,
    r.full_name AS sales_rep_name,
    d.currency,
    COUNT(*) AS deals,
    CAST(SUM(d.amount) AS DECIMAL(18, 2)) AS amount,
    CAST(CASE WHEN COUNT(*) FILTER (WHERE d.amount_usd IS NULL) = 0 THEN SUM(d.amount_usd) END
         AS DECIMAL(18, 2)) AS amount_usd,
    COUNT(*) FILTER (WHERE d.amount IS NOT NULL AND d.amount_usd IS NULL) AS deals_without_usd,
    CAST(AVG(d.days_to_close) AS DECIMAL(10, 1)) AS avg_days_to_close,
    MIN(d.close_date) AS next_close_date
FROM fct_deals d
LEFT JOIN dim_sales_rep r ON r.sales_rep_key = d.sales_rep_key
GROUP BY d.pipeline, d.stage, d.stage_order, d.is_closed, d.is_won, d.sales_rep_key, r.full_name, d.currency
