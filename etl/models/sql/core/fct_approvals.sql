-- description: >-
--   OA approval steps of purchase requests, with the approver and the requester conformed to people
--   (xwalk_person; requesters by their HR login), how long each step took, and how the request ended.
--   The OA exports no submission time, so the first step's wait cannot be measured: hours_to_decide
--   starts at step 2, and a request's cycle runs from its first decision to its last.
-- grain: one row per purchase request and approval step
-- columns:
--   request_id: OA purchase request number (stg_oa__purchase_requests.po_number)
--   step: approval step, 1 = first
--   steps_in_request: number of steps the request has
--   is_final_step: this is the request's last step
--   approver_key: the approver (xwalk_person.person_id, e.g. 'hr:100'; 'oa:<e-mail>' when not found elsewhere)
--   approver_email: approver e-mail as the OA holds it
--   approver_name: approver name as the OA holds it
--   decision: approved, rejected or pending
--   is_decided: the step is approved or rejected
--   decided_at: when the step was decided, in UTC like every timestamp of the warehouse (the OA writes office time, Europe/Berlin, converted at load); null while pending
--   decided_at_local: the same moment in office time (Europe/Berlin wall clock), as the approver saw it
--   decided_date_key: the office day of the decision (decided_at_local) as yyyymmdd (dim_date)
--   previous_decided_at: when the previous step was decided
--   hours_to_decide: hours from the previous step's decision to this one (null for step 1 and pending steps)
--   request_status: rejected (any step rejected), approved (every step approved) or pending
--   request_cycle_hours: hours from the request's first decision to its last, once it is approved or rejected
--   request_reference: OA reference of the request
--   requester_key: the requester (HR person 'hr:<employee id>', by the OA user login)
--   requester_name: requester name as the OA holds it
--   cost_center: cost center of the request
--   request_amount: sum of the request's lines (unit price x quantity)
WITH steps AS (
    SELECT a.*,
           (a.decided_at AT TIME ZONE 'UTC') AT TIME ZONE 'Europe/Berlin' AS decided_at_local,
           LAG(a.decided_at) OVER (PARTITION BY a.request_id ORDER BY a.step) AS previous_decided_at,
           MAX(a.step) OVER (PARTITION BY a.request_id) AS steps_in_request
    FROM stg_oa__approvals a
),
requests AS (
    SELECT request_id,
           CASE WHEN COUNT(*) FILTER (WHERE decision = 'rejected') > 0 THEN 'rejected'
                WHEN COUNT(*) FILTER (WHERE decision = 'approved') = COUNT(*) THEN 'approved'
                ELSE 'pending' END AS request_status,
           MIN(decided_at) AS first_decided_at,
           MAX(decided_at) AS last_decided_at
    FROM stg_oa__approvals
    GROUP BY request_id
),
amounts AS (
    SELECT po_number, SUM(unit_price * quantity) AS request_amount
    FROM stg_oa__purchase_request_lines
    GROUP BY po_number
)
SELECT
    s.request_id,
    s.step,
    s.steps_in_request,
    s.step = s.steps_in_request AS is_final_step,
    COALESCE(x.person_id, 'oa:' || s.approver_email) AS approver_key,
    s.approver_email,
    s.approver_name,
    s.decision,
    s.decision IN ('approved', 'rejected') AS is_decided,
    s.decided_at,
    s.decided_at_local,
    CAST(EXTRACT(YEAR FROM s.decided_at_local) * 10000 + EXTRACT(MONTH FROM s.decided_at_local) * 100
         + EXTRACT(DAY FROM s.decided_at_local) AS INTEGER) AS decided_date_key,
    s.previous_decided_at,
    CAST(EXTRACT(EPOCH FROM (s.decided_at - s.previous_decided_at)) / 3600 AS DECIMAL(10, 2)) AS hours_to_decide,
    r.request_status,
    CASE WHEN r.request_status <> 'pending'
         THEN CAST(EXTRACT(EPOCH FROM (r.last_decided_at - r.first_decided_at)) / 3600 AS DECIMAL(10, 2))
    END AS request_cycle_hours,
    pr.reference AS request_reference,
    CASE WHEN h.employee_id IS NOT NULL THEN 'hr:' || CAST(h.employee_id AS VARCHAR) END AS requester_key,
    pr.requestor AS requester_name,
    pr.cost_center,
    CAST(am.request_amount AS DECIMAL(18, 2)) AS request_amount
FROM steps s
JOIN requests r ON r.request_id = s.request_id
LEFT JOIN xwalk_person x ON x.system = 'oa' AND x.record_id = s.approver_email
LEFT JOIN stg_oa__purchase_requests pr ON pr.po_number = s.request_id
LEFT JOIN stg_hr__employees h ON h.user_name = pr.user_name
LEFT JOIN amounts am ON am.po_number = s.request_id
