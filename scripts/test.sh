#!/usr/bin/env bash
# The test command: installs and starts everything the tests need on a fresh Debian machine
# (PostgreSQL, redis-server, Node packages of the real Auth.js), then runs the whole suite. The
# process tests start their own redis-server instances (they kill and restart them).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

need=()
for pkg in postgresql redis-server nodejs chromium docker-compose; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
command -v node >/dev/null 2>&1 && need=("${need[@]/nodejs}")
if [ -n "$(echo "${need[@]:-}" | tr -d ' ')" ]; then
  echo "==> installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${need[*]} >/dev/null
fi

echo "==> installing the pinned Auth.js packages (the tests' fixtures and the sample app)"
(cd tests/authjs && npm ci --no-audit --no-fund --loglevel=error)
(cd samples/authjs-app && npm ci --no-audit --no-fund --loglevel=error)

# A throwaway PostgreSQL cluster on loopback, owned by the postgres user (it refuses to run as root).
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
pg_port="${SESSIONCACHE_PG_PORT:-54329}"
pg_dir="$(mktemp -d /tmp/sessioncache-pg.XXXXXX)"
chown postgres:postgres "$pg_dir"
as_postgres() { runuser -u postgres -- "$@"; }
cleanup() { as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$pg_dir"; }
trap cleanup EXIT
echo "==> starting PostgreSQL on 127.0.0.1:$pg_port"
as_postgres "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -w -l "$pg_dir/log" \
  -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_dir -c fsync=off" start >/dev/null
as_postgres "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -q -c "CREATE DATABASE authjs" >/dev/null
as_postgres "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d authjs -q -f "$root/tests/authjs/schema.sql" >/dev/null

export SESSIONCACHE_TEST_REDIS_SERVER="$(command -v redis-server)"
export SESSIONCACHE_TEST_PG="Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=authjs"
export SESSIONCACHE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/authjs"

echo "==> building and testing"
log="$pg_dir/dotnet-test.log"
status=0
dotnet test Cluster.sln --nologo --logger "console;verbosity=detailed" "$@" 2>&1 | tee "$log" || status=$?
# One plain summary line over every test project.
awk '/^ +Passed: [0-9]+$/ { p += $2 } /^ +Failed: [0-9]+$/ { f += $2 } /^ +Skipped: [0-9]+$/ { s += $2 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
