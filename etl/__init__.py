"""CRM / ERP / HR / OA integration pipelines: extract, map, validate and load into a reporting warehouse."""

from etl.redact import install_log_filter as _install_log_filter

_install_log_filter()  # every etl log record is redacted (etl.redact), whoever configured the handlers
