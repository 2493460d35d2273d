"""Example plug-ins for the ETL product: one source kind, one transform, one row check."""
