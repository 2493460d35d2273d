"""Cross-system identity: which CRM company is which ERP customer, and which CRM owner, ERP sales rep,
HR employee and OA approver are the same person.

`rules` says how records are compared (keys and confidences), `match` links records by those rules
without ever forcing an ambiguous pair, `overrides` reads the data engineer's pins and vetoes from
`mappings/identity/overrides.yml`, and `crosswalk` rebuilds `xwalk_customer`, `xwalk_person` and
`xwalk_review` in the warehouse in one transaction.
"""
