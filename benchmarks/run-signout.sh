#!/usr/bin/env bash
# Sign-outs on the process tests' cluster (3 silo processes, the co-hosting web app, 2 clients, a
# redis-server with appendfsync always, the real Auth.js in proxy mode): one at a time next to a
# Redis SET + PUBLISH awaited by six subscribers, then sustained by 64 concurrent callers. This
# build next to b66e13e, the last build with one invalidation hub grain, alternating, in one run.
# Usage: benchmarks/run-signout.sh [rounds] [sign-outs] [sustained-users]
# Needs redis-server (scripts/test.sh installs it).
set -euo pipefail
rounds="${1:-2}"
signouts="${2:-200}"
users="${3:-5000}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export SESSIONCACHE_TEST_REDIS_SERVER="${SESSIONCACHE_TEST_REDIS_SERVER:-$(command -v redis-server)}"
work="$(mktemp -d)"
cleanup() { git worktree remove --force "$work/baseline" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
git worktree add --detach "$work/baseline" b66e13e >/dev/null 2>&1
# The same Auth.js packages, and this build's harness on both (the baseline lacked the sustained
# phase): the benchmark, its packages and the test infrastructure it borrows.
ln -s "$root/tests/authjs/node_modules" "$work/baseline/tests/authjs/node_modules"
benchmarks/copy-failover-harness.sh "$work/baseline"
for tree in "$work/baseline" "$root"; do
  for project in benchmarks/SessionCache.FailoverBenchmarks src/Silo samples/WebApp; do
    dotnet build -c Release -v q --nologo "$tree/$project" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
  done
done
for round in $(seq 1 "$rounds"); do
  for tree in "$work/baseline" "$root"; do
    name="this build"; [ "$tree" = "$root" ] || name="baseline b66e13e (one hub grain)"
    echo "## round $round: $name"
    (cd "$tree" && dotnet benchmarks/SessionCache.FailoverBenchmarks/bin/Release/net10.0/SessionCache.FailoverBenchmarks.dll "$signouts" 0 "$users" 64)
  done
done
