-- description: >-
--   History of every deal's pipeline stage (SCD type 2), recorded by each warehouse_models build: a new
--   version whenever a build sees a deal in another stage than its open version. The CRM keeps no stage
--   history, so a deal's first version starts when the warehouse first saw it (at the deal's last
--   modification then); two changes between builds show as one.
-- grain: one row per deal per stage version
-- unique_key: [source_system, deal_id]
-- tracked: [stage]
-- columns:
--   source_system: the CRM the deal comes from
--   deal_id: the deal's id in its CRM
--   stage: pipeline stage in this version
--   pipeline: the deal's pipeline when the version opened
--   valid_from: when the deal entered the stage (the CRM's last-modified time of the change, UTC)
--   valid_to: when it left the stage (null while it is still there)
--   is_current: this is the deal's current stage
SELECT d.source_system, d.deal_id, d.stage, d.pipeline, d.updated_at AS changed_at
FROM crm_deals d
WHERE d.stage IS NOT NULL AND d.updated_at IS NOT NULL
