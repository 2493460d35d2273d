-- description: >-
--   History of every CRM customer's account owner, lifecycle stage and tier (SCD type 2), recorded by
--   each warehouse_models build: a new version whenever any of the three differs from the open version.
--   A customer's first version starts when the warehouse first saw it (at the company's last
--   modification then).
-- grain: one row per customer per version of owner, lifecycle stage and tier
-- unique_key: [customer_key]
-- tracked: [account_owner_key, lifecycle_stage, customer_tier]
-- columns:
--   customer_key: the customer (dim_customer)
--   account_owner_key: the CRM owner in this version (dim_sales_rep)
--   lifecycle_stage: CRM lifecycle stage in this version
--   customer_tier: CRM tier in this version
--   valid_from: when the version started (the CRM company's last-modified time of the change, UTC)
--   valid_to: when it ended (null for the current version)
--   is_current: this is the customer's current version
SELECT c.customer_key, c.account_owner_key, c.lifecycle_stage, c.customer_tier, co.updated_at AS changed_at
FROM dim_customer c
JOIN stg_crm__companies co ON co.id = c.crm_company_id
WHERE co.updated_at IS NOT NULL
