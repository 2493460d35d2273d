#!/usr/bin/env bash
# The `airflow-init` job of docker-compose.yml, run once before the other Airflow services start:
#   1. create or upgrade the metadata database schema;
#   2. write the admin's password (AIRFLOW_ADMIN_PASSWORD from .env) into the simple auth manager's
#      passwords file on the shared `airflow-auth` volume, so no generated password hides in a log;
#   3. create the staging bucket named in ETL_STAGING_URL on the object store (MinIO, or S3 when it exists).
# Safe to run again: each step keeps what is already there.
set -euo pipefail

airflow db migrate

python - <<'PY'
import json
import os
from pathlib import Path

path = Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
path.parent.mkdir(parents=True, exist_ok=True)
path.touch(mode=0o600)
path.write_text(json.dumps({os.environ["AIRFLOW_ADMIN_USER"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}))
print(f"admin user {os.environ['AIRFLOW_ADMIN_USER']!r}: password set from AIRFLOW_ADMIN_PASSWORD")
PY

python - <<'PY'
import os
from urllib.parse import urlsplit

import fsspec

url = urlsplit(os.environ["ETL_STAGING_URL"])
if url.scheme in ("s3", "s3a"):
    fs = fsspec.filesystem("s3")
    if not fs.exists(url.netloc):
        fs.mkdir(url.netloc)
    print(f"staging bucket {url.netloc!r} ready")
PY
