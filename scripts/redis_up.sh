#!/usr/bin/env bash
# Start a Redis server for the distributed (Celery) tests, as postgres_up.sh does for PostgreSQL.
# Installs the machine's Debian package when it is missing (the test command runs as root), then starts
# one server per checkout on a unix socket only (`--port 0`: nothing listens on the network), under
# ETL_TEST_REDIS_DIR (default /tmp/etl-redis-<uid>-<checkout hash>). Prints the socket path.
# The server is shared by the test runs of this checkout and left running, like PostgreSQL.
set -euo pipefail
if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis: installing the Debian package redis-server" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends redis-server >&2
fi
here="$(cd "$(dirname "$0")/.." && pwd)"
dir="${ETL_TEST_REDIS_DIR:-/tmp/etl-redis-$(id -u)-$(printf %s "$here" | md5sum | cut -c1-8)}"
sock="$dir/redis.sock"
mkdir -p "$dir"
if ! redis-cli -s "$sock" ping >/dev/null 2>&1; then
  redis-server --daemonize yes --port 0 --unixsocket "$sock" --unixsocketperm 700 \
    --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --save "" --appendonly no >&2
  for _ in $(seq 1 60); do redis-cli -s "$sock" ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
redis-cli -s "$sock" ping >/dev/null
echo "$sock"
