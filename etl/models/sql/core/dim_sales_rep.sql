-- description: >-
--   Sales reps: everyone who owns CRM records or sells in the ERP, one row per person (xwalk_person
--   joins a CRM owner, an ERP sales rep and an HR employee who are the same person). HR adds job and
--   department when the rep is found in HR.
-- grain: one row per person who is a CRM owner or an ERP sales rep
-- columns:
--   sales_rep_key: "the person id (xwalk_person.person_id, e.g. 'hr:145'); '<crm|erp>:<id>' for a rep found in one system only"
--   crm_owner_id: CRM owner id
--   erp_sales_rep_id: ERP employee id of the sales rep
--   hr_employee_id: HR employee id, when the person was found in HR
--   full_name: name (HR, else ERP, else CRM)
--   email: work e-mail (CRM, else ERP, else HR person e-mail)
--   erp_title: title in the ERP
--   hr_job_title: job title in HR
--   hr_department: department in HR
--   hire_date: hire date (HR, else ERP)
--   in_crm: the rep owns records in the CRM
--   in_erp: the rep sells in the ERP
--   in_hr: the rep was found in HR
--   match_rules: comma-separated rules that linked the person's records (xwalk_person.rule); null for one-system reps
--   match_confidence: lowest confidence among those links; null for one-system reps
WITH records AS (
    SELECT 'crm' AS system, o.id AS record_id FROM stg_crm__owners o
    UNION ALL
    SELECT 'erp', CAST(r.employee_id AS VARCHAR) FROM stg_erp__sales_reps r
),
keyed AS (
    SELECT COALESCE(x.person_id, r.system || ':' || r.record_id) AS sales_rep_key, r.system, r.record_id
    FROM records r
    LEFT JOIN xwalk_person x ON x.system = r.system AND x.record_id = r.record_id
),
reps AS (
    SELECT sales_rep_key,
           MAX(CASE WHEN system = 'crm' THEN record_id END) AS crm_owner_id,
           MAX(CASE WHEN system = 'erp' THEN record_id END) AS erp_sales_rep_id
    FROM keyed
    GROUP BY sales_rep_key
),
rules AS (
    SELECT person_id, string_agg(rule, ',' ORDER BY rule) AS match_rules
    FROM (SELECT DISTINCT person_id, rule FROM xwalk_person) r
    GROUP BY person_id
),
confidence AS (
    SELECT person_id, MIN(confidence) AS match_confidence FROM xwalk_person GROUP BY person_id
),
hr AS (
    SELECT person_id, record_id AS hr_employee_id FROM xwalk_person WHERE system = 'hr'
)
SELECT
    r.sales_rep_key,
    r.crm_owner_id,
    r.erp_sales_rep_id,
    h.hr_employee_id,
    COALESCE(e.first_name || ' ' || e.last_name, s.full_name, o.full_name) AS full_name,
    COALESCE(o.email, s.email, e.person_email) AS email,
    s.title AS erp_title,
    j.job_title AS hr_job_title,
    d.department_name AS hr_department,
    COALESCE(e.hire_date, s.hire_date) AS hire_date,
    r.crm_owner_id IS NOT NULL AS in_crm,
    r.erp_sales_rep_id IS NOT NULL AS in_erp,
    h.hr_employee_id IS NOT NULL AS in_hr,
    ru.match_rules,
    c.match_confidence
FROM reps r
LEFT JOIN hr h ON h.person_id = r.sales_rep_key
LEFT JOIN stg_crm__owners o ON o.id = r.crm_owner_id
LEFT JOIN stg_erp__sales_reps s ON CAST(s.employee_id AS VARCHAR) = r.erp_sales_rep_id
LEFT JOIN stg_hr__employees e ON CAST(e.employee_id AS VARCHAR) = h.hr_employee_id
LEFT JOIN stg_hr__jobs j ON j.job_id = e.job_id
LEFT JOIN stg_hr__departments d ON d.department_id = e.department_id
LEFT JOIN rules ru ON ru.person_id = r.sales_rep_key
LEFT JOIN confidence c ON c.person_id = r.sales_rep_key
