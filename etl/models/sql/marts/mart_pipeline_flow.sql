-- description: >-
--   The pipeline over time, from the recorded stage history (hist_deal_stage): for every stage, where
--   its deals went next and how long they stayed. A deal still in a stage counts under to_stage null.
--   Only moves the warehouse has seen count: history starts with the first build.
-- grain: one row per source system, stage and next stage (null = not moved on yet)
-- columns:
--   source_system: the CRM
--   from_stage: the stage
--   to_stage: the stage deals went to next; null for deals still in from_stage
--   deals: deals that made this move (or are still waiting, for to_stage null)
--   entered: deals that were ever in from_stage
--   conversion_rate: deals / entered, 0-1 (share of from_stage's deals that went to to_stage)
--   avg_days_in_stage: average days spent in from_stage before the move (null for to_stage null)
--   max_days_in_stage: longest such stay
WITH versions AS (
    SELECT h.source_system, h.deal_id, h.stage, h.valid_from, h.valid_to,
           LEAD(h.stage) OVER (PARTITION BY h.source_system, h.deal_id ORDER BY h.valid_from) AS next_stage
    FROM hist_deal_stage h
),
moves AS (
    SELECT source_system, stage AS from_stage, next_stage AS to_stage, deal_id,
           CASE WHEN next_stage IS NOT NULL
                THEN EXTRACT(EPOCH FROM (valid_to - valid_from)) / 86400 END AS days_in_stage
    FROM versions
),
entered AS (
    SELECT source_system, from_stage, COUNT(DISTINCT deal_id) AS entered FROM moves GROUP BY source_system, from_stage
)
SELECT
    m.source_system,
    m.from_stage,
    m.to_stage,
    COUNT(*) AS deals,
    e.entered,
    CAST(CAST(COUNT(*) AS DECIMAL(12, 4)) / e.entered AS DECIMAL(6, 4)) AS conversion_rate,
    CAST(CAST(AVG(m.days_in_stage) AS DECIMAL(14, 4)) AS DECIMAL(10, 2)) AS avg_days_in_stage,
    CAST(CAST(MAX(m.days_in_stage) AS DECIMAL(14, 4)) AS DECIMAL(10, 2)) AS max_days_in_stage
FROM moves m
JOIN entered e ON e.source_system = m.source_system AND e.from_stage = m.from_stage
GROUP BY m.source_system, m.from_stage, m.to_stage, e.entered
