-- description: >-
--   Support tickets of every CRM in the warehouse (the conformed crm_tickets), with their category,
--   priority and service times, each conformed to a customer:
--   the ticket's company, or else the company of the ticket's contact (as activities are attributed),
--   so a ticket that names only a contact at a known customer still counts for that customer.
-- grain: one row per ticket per source system
-- columns:
--   source_system: the CRM the ticket comes from (mappings/<system>/)
--   ticket_id: the ticket's id in its CRM
--   subject: ticket subject
--   category: ticket category (PRODUCT_ISSUE, BILLING_ISSUE, FEATURE_REQUEST, GENERAL_INQUIRY); null when the CRM has none
--   priority: priority as the CRM names it (LOW, MEDIUM, HIGH)
--   stage: status or pipeline stage (new, waiting, in_progress, closed)
--   is_open: the ticket is neither closed nor has a close time
--   opened_at: when the ticket was opened (UTC)
--   opened_date_key: opened_at's day as yyyymmdd (dim_date)
--   first_response_at: first agent reply (UTC); null while nobody has answered
--   closed_at: when the ticket was closed (UTC); null while open
--   hours_to_first_response: hours from opening to the first reply (null without a reply)
--   hours_to_resolution: hours from opening to closing (null while open)
--   customer_key: the customer (dim_customer); null when neither the ticket nor its contact names a known company
--   customer_source: where the customer came from - 'ticket' (its company) or 'contact' (the contact's company)
--   crm_company_id: CRM company the ticket is attributed to
--   contact_id: CRM contact who raised the ticket
--   sales_rep_key: the ticket owner (dim_sales_rep)
WITH tickets AS (
    SELECT t.*, COALESCE(t.account_id, c.account_id) AS attributed_company_id,
           CASE WHEN t.account_id IS NOT NULL THEN 'ticket'
                WHEN c.account_id IS NOT NULL THEN 'contact' END AS company_source
    FROM crm_tickets t
    LEFT JOIN crm_contacts c ON c.source_system = t.source_system AND c.contact_id = t.contact_id
)
SELECT
    t.source_system,
    t.ticket_id,
    t.subject,
    t.category,
    t.priority,
    t.status AS stage,
    t.closed_at IS NULL AND COALESCE(lower(t.status), '') <> 'closed' AS is_open,
    t.opened_at,
    CAST(EXTRACT(YEAR FROM t.opened_at) * 10000 + EXTRACT(MONTH FROM t.opened_at) * 100
         + EXTRACT(DAY FROM t.opened_at) AS INTEGER) AS opened_date_key,
    t.first_response_at,
    t.closed_at,
    CAST(EXTRACT(EPOCH FROM (t.first_response_at - t.opened_at)) / 3600 AS DECIMAL(10, 2)) AS hours_to_first_response,
    CAST(EXTRACT(EPOCH FROM (t.closed_at - t.opened_at)) / 3600 AS DECIMAL(10, 2)) AS hours_to_resolution,
    dc.customer_key,
    CASE WHEN dc.customer_key IS NOT NULL THEN t.company_source END AS customer_source,
    t.attributed_company_id AS crm_company_id,
    t.contact_id,
    sr.sales_rep_key
FROM tickets t
-- dim_customer and dim_sales_rep match the `crm` system's companies and owners (etl.identity), as in fct_deals
LEFT JOIN dim_customer dc ON dc.crm_company_id = t.attributed_company_id AND t.source_system = 'crm'
LEFT JOIN dim_sales_rep sr ON sr.crm_owner_id = t.owner_id AND t.source_system = 'crm'
