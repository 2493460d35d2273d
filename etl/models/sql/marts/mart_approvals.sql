-- description: >-
--   OA approvals by approver: decisions taken, what is still waiting on them, and how long they take
--   (from the previous step's decision to theirs).
-- grain: one row per approver (a person, see xwalk_person)
-- columns:
--   approver_key: the approver (xwalk_person.person_id, or 'oa:<e-mail>')
--   approver_email: approver e-mail in the OA
--   approver_name: approver name in the OA
--   hr_employee_id: HR employee id of the approver, when found in HR
--   requests: purchase requests the approver is a step of
--   steps: approval steps assigned to the approver
--   approved: steps approved
--   rejected: steps rejected
--   pending: steps waiting for the approver
--   approval_rate: approved / decided, 0-1
--   avg_hours_to_decide: average hours from the previous step's decision to the approver's (steps 2+)
--   max_hours_to_decide: longest such wait
--   avg_request_cycle_hours: average first-to-last-decision hours of the finished requests the approver took part in
--   approved_amount: total amount of the requests the approver approved a step of
--   last_decided_at: the approver's latest decision, UTC
--   last_decided_at_local: the same moment in office time (Europe/Berlin)
WITH hr AS (
    SELECT person_id, record_id AS hr_employee_id FROM xwalk_person WHERE system = 'hr'
)
SELECT
    f.approver_key,
    MIN(f.approver_email) AS approver_email,
    MIN(f.approver_name) AS approver_name,
    MIN(h.hr_employee_id) AS hr_employee_id,
    COUNT(DISTINCT f.request_id) AS requests,
    COUNT(*) AS steps,
    COUNT(*) FILTER (WHERE f.decision = 'approved') AS approved,
    COUNT(*) FILTER (WHERE f.decision = 'rejected') AS rejected,
    COUNT(*) FILTER (WHERE NOT f.is_decided) AS pending,
    CAST(CAST(COUNT(*) FILTER (WHERE f.decision = 'approved') AS DECIMAL(12, 4))
         / NULLIF(COUNT(*) FILTER (WHERE f.is_decided), 0) AS DECIMAL(6, 4)) AS approval_rate,
    CAST(AVG(f.hours_to_decide) AS DECIMAL(10, 2)) AS avg_hours_to_decide,
    MAX(f.hours_to_decide) AS max_hours_to_decide,
    CAST(AVG(f.request_cycle_hours) AS DECIMAL(10, 2)) AS avg_request_cycle_hours,
    CAST(SUM(f.request_amount) FILTER (WHERE f.decision = 'approved') AS DECIMAL(18, 2)) AS approved_amount,
    MAX(f.decided_at) AS last_decided_at,
    MAX(f.decided_at_local) AS last_decided_at_local
FROM fct_approvals f
LEFT JOIN hr h ON h.person_id = f.approver_key
GROUP BY f.approver_key
