#!/usr/bin/env bash
# Start the machine's PostgreSQL 15 if it is down and create the role and databases the tests use.
set -euo pipefail
if ! pg_lsclusters -h 2>/dev/null | awk '$1=="15" && $2=="main" {print $4}' | grep -q online; then
  pg_ctlcluster --skip-systemctl-redirect 15 main start
fi
for i in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
psql_su() { su postgres -c "psql -v ON_ERROR_STOP=1 -qAt -c \"$1\""; }
[ "$(psql_su "select 1 from pg_roles where rolname='etl'")" = "1" ] || psql_su "create role etl login superuser password 'etl'"
for db in etl_test etl_test_e2e erp_test bench; do
  [ "$(psql_su "select 1 from pg_database where datname='$db'")" = "1" ] || psql_su "create database $db owner etl"
done
echo "postgres: up, role etl, databases etl_test etl_test_e2e erp_test bench"
