-- description: >-
--   Customers conformed from CRM companies and ERP customers through xwalk_customer. A linked pair is
--   one customer with attributes from both systems (the ERP wins for name and address: it bills them);
--   a CRM company or ERP customer without a counterpart is a customer of its own.
-- grain: one row per customer
-- columns:
--   customer_key: "'erp:<ERP customer id>' for customers in the ERP, else 'crm:<CRM company id>'"
--   crm_company_id: CRM company id (null when the customer is only in the ERP)
--   erp_customer_id: ERP customer id (null when the company is only in the CRM)
--   customer_name: ERP company name, else the CRM name
--   crm_name: name in the CRM
--   erp_name: name in the ERP
--   domain: web domain (CRM)
--   industry: industry (CRM)
--   city: city (ERP, else CRM)
--   country: country (ERP, else CRM; the two systems spell some countries differently, e.g. UK)
--   lifecycle_stage: CRM lifecycle stage (lead, opportunity, customer, ...)
--   customer_tier: CRM tier (bronze, silver, gold, platinum)
--   annual_revenue: annual revenue recorded in the CRM
--   employees: number of employees recorded in the CRM
--   erp_status: ERP account status (active, inactive)
--   erp_is_active: true when the ERP account is active
--   erp_currency: currency the ERP bills the customer in
--   erp_lead_source: lead source recorded in the ERP
--   account_owner_key: sales_rep_key (dim_sales_rep) of the CRM owner of the company
--   in_crm: the customer has a CRM company
--   in_erp: the customer has an ERP account
--   match_rule: rule that linked CRM and ERP (xwalk_customer.rule); null when not linked
--   match_confidence: that rule's confidence (0-1); null when not linked
WITH pairs AS (
    SELECT x.erp_customer_id, x.crm_company_id, x.rule AS match_rule, x.confidence AS match_confidence
    FROM xwalk_customer x
    UNION ALL
    SELECT NULL, c.id, NULL, NULL
    FROM stg_crm__companies c
    WHERE NOT EXISTS (SELECT 1 FROM xwalk_customer x WHERE x.crm_company_id = c.id)
    UNION ALL
    SELECT e.customer_id, NULL, NULL, NULL
    FROM stg_erp__customers e
    WHERE NOT EXISTS (SELECT 1 FROM xwalk_customer x WHERE x.erp_customer_id = e.customer_id)
),
owners AS (
    SELECT o.id AS owner_id, COALESCE(p.person_id, 'crm:' || o.id) AS sales_rep_key
    FROM stg_crm__owners o
    LEFT JOIN xwalk_person p ON p.system = 'crm' AND p.record_id = o.id
)
SELECT
    CASE WHEN p.erp_customer_id IS NOT NULL THEN 'erp:' || p.erp_customer_id
         ELSE 'crm:' || p.crm_company_id END AS customer_key,
    p.crm_company_id,
    p.erp_customer_id,
    COALESCE(e.company_name, c.name) AS customer_name,
    c.name AS crm_name,
    e.company_name AS erp_name,
    c.domain,
    c.industry,
    COALESCE(e.city, c.city) AS city,
    COALESCE(e.country, c.country) AS country,
    c.lifecycle_stage,
    c.customer_tier,
    c.annual_revenue,
    c.employees,
    e.status AS erp_status,
    e.is_active AS erp_is_active,
    e.currency AS erp_currency,
    e.lead_source AS erp_lead_source,
    ow.sales_rep_key AS account_owner_key,
    p.crm_company_id IS NOT NULL AS in_crm,
    p.erp_customer_id IS NOT NULL AS in_erp,
    p.match_rule,
    p.match_confidence
FROM pairs p
LEFT JOIN stg_crm__companies c ON c.id = p.crm_company_id
LEFT JOIN stg_erp__customers e ON e.customer_id = p.erp_customer_id
LEFT JOIN owners ow ON ow.owner_id = c.owner_id
