"""CRM / ERP / HR / OA integration pipelines: extract, map, validate and load into a reporting warehouse."""
