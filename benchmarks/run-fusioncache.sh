#!/usr/bin/env bash
# FusionCache 2.9.0 side by side with the cluster, one run, same machine, same redis-server
# (appendfsync always), same real Auth.js in proxy mode: three FusionCache nodes with Redis as L2 and
# backplane, then the same with FusionCache's Redis distributed locker, then the process tests'
# cluster (3 silo processes, web app, 2 clients). Scenarios: 1,000 concurrent lookups of a new
# session over 3 nodes; a sign-out and the stale answers after it returned; Redis SIGKILLed and
# restarted during sign-outs. Then the stampede alone on 4c8c188, the build before concurrent misses
# shared one grain call, with the same harness.
# Usage: benchmarks/run-fusioncache.sh [stampede-trials] [sign-out-trials] [restart-trials]
# Needs redis-server (scripts/test.sh installs it) and the Auth.js packages (scripts/test.sh runs npm ci).
set -euo pipefail
stampedes="${1:-7}"
signouts="${2:-200}"
restarts="${3:-6}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export SESSIONCACHE_TEST_REDIS_SERVER="${SESSIONCACHE_TEST_REDIS_SERVER:-$(command -v redis-server)}"
[ -d tests/authjs/node_modules ] || (cd tests/authjs && npm ci --no-audit --no-fund --loglevel=error)
work="$(mktemp -d)"
cleanup() { git worktree remove --force "$work/baseline" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
git worktree add --detach "$work/baseline" 4c8c188 >/dev/null 2>&1
ln -s "$root/tests/authjs/node_modules" "$work/baseline/tests/authjs/node_modules"
# This build's harness on both: the benchmark, its packages and the test infrastructure it borrows.
benchmarks/copy-failover-harness.sh "$work/baseline"
for tree in "$root" "$work/baseline"; do
  for project in benchmarks/SessionCache.FailoverBenchmarks src/Silo samples/WebApp; do
    dotnet build -c Release -v q --nologo "$tree/$project" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
  done
done
echo "## this build"
dotnet benchmarks/SessionCache.FailoverBenchmarks/bin/Release/net10.0/SessionCache.FailoverBenchmarks.dll fusioncache "$stampedes" "$signouts" "$restarts"
echo "## baseline 4c8c188 (before concurrent misses shared one grain call): the stampede only"
(cd "$work/baseline" && dotnet benchmarks/SessionCache.FailoverBenchmarks/bin/Release/net10.0/SessionCache.FailoverBenchmarks.dll fusioncache "$stampedes" 0 0)
