#!/usr/bin/env bash
# Start the machine's PostgreSQL 15 if it is down and create the role and the database the tests use.
# The database is the one named in ETL_TEST_PG_URL (default etl_test): parallel checkouts each set their
# own, and tests derive sibling databases (<db>_erp, ...) from it.
set -euo pipefail
if ! pg_lsclusters -h 2>/dev/null | awk '$1=="15" && $2=="main" {print $4}' | grep -q online; then
  pg_ctlcluster --skip-systemctl-redirect 15 main start
fi
for i in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
psql_su() { su postgres -c "psql -v ON_ERROR_STOP=1 -qAt -c \"$1\""; }
[ "$(psql_su "select 1 from pg_roles where rolname='etl'")" = "1" ] || psql_su "create role etl login superuser password 'etl'"
url="${ETL_TEST_PG_URL:-postgresql://etl:etl@127.0.0.1:5432/etl_test}"
test_db="${url##*/}"; test_db="${test_db%%\?*}"
for db in "$test_db" bench; do
  [ "$(psql_su "select 1 from pg_database where datname='$db'")" = "1" ] || psql_su "create database $db owner etl"
done
echo "postgres: up, role etl, databases $test_db bench"
