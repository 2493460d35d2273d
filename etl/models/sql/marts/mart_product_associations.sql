-- description: >-
--   Products bought together: association rules "an order with the antecedent also holds the
--   consequent", mined from ERP order baskets (one basket per order, one item per distinct product),
--   with the thresholds of mappings/models/analytics.yml (model_settings). Rules pair two products
--   (one antecedent, one consequent); both directions are listed, as their confidence differs.
-- grain: one row per ordered pair of products that passes every threshold
-- columns:
--   antecedent: product name bought
--   consequent: product name bought with it
--   support: share of all orders that hold both products
--   confidence: share of the antecedent's orders that also hold the consequent
--   lift: confidence divided by the consequent's own share of orders (above 1 = bought together more than by chance)
--   baskets: orders that hold both products
--   antecedent_id: ERP product id of the antecedent
--   consequent_id: ERP product id of the consequent
--   antecedent_baskets: orders that hold the antecedent
--   consequent_baskets: orders that hold the consequent
--   total_baskets: orders considered
WITH items AS (
    SELECT DISTINCT order_id, product_id FROM fct_sales
),
total AS (
    SELECT COUNT(DISTINCT order_id) AS n FROM items
),
products AS (
    SELECT i.product_id, p.product_name, COUNT(*) AS baskets
    FROM items i
    JOIN stg_erp__products p ON p.product_id = i.product_id
    GROUP BY i.product_id, p.product_name
),
pairs AS (
    SELECT a.product_id AS antecedent_id, b.product_id AS consequent_id, COUNT(*) AS baskets
    FROM items a
    JOIN items b ON b.order_id = a.order_id AND b.product_id <> a.product_id
    GROUP BY a.product_id, b.product_id
),
rules AS (
    SELECT pa.product_name AS antecedent, pc.product_name AS consequent,
           CAST(p.baskets AS DOUBLE PRECISION) / t.n AS support,
           CAST(p.baskets AS DOUBLE PRECISION) / pa.baskets AS confidence,
           (CAST(p.baskets AS DOUBLE PRECISION) / pa.baskets) / (CAST(pc.baskets AS DOUBLE PRECISION) / t.n) AS lift,
           p.baskets, p.antecedent_id, p.consequent_id, pa.baskets AS antecedent_baskets,
           pc.baskets AS consequent_baskets, t.n AS total_baskets
    FROM pairs p
    JOIN products pa ON pa.product_id = p.antecedent_id
    JOIN products pc ON pc.product_id = p.consequent_id
    CROSS JOIN total t
)
SELECT
    r.antecedent,
    r.consequent,
    CAST(r.support AS DECIMAL(12, 6)) AS support,
    CAST(r.confidence AS DECIMAL(12, 6)) AS confidence,
    CAST(r.lift AS DECIMAL(12, 4)) AS lift,
    r.baskets,
    r.antecedent_id,
    r.consequent_id,
    r.antecedent_baskets,
    r.consequent_baskets,
    r.total_baskets
FROM rules r
CROSS JOIN model_settings s
WHERE r.support >= s.min_support
  AND r.confidence >= s.min_confidence
  AND r.lift >= s.min_lift
  AND r.baskets >= s.min_baskets
