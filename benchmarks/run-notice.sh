#!/usr/bin/env bash
# One sign-out notice against near caches of 1,000, 100,000 and 1,000,000 entries: this build next
# to fe33fae, the build before the near cache indexed its entries by user (it scanned them all).
# Usage: benchmarks/run-notice.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
work="$(mktemp -d)"
cleanup() { git worktree remove --force "$work/baseline" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
git worktree add --detach "$work/baseline" fe33fae >/dev/null 2>&1
for tree in "$work/baseline" "$root"; do
  dotnet build -c Release -v q --nologo "$tree/benchmarks/SessionCache.ClusterBenchmarks" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
done
echo "## baseline (fe33fae): every notice scans the cache"
dotnet "$work/baseline/benchmarks/SessionCache.ClusterBenchmarks/bin/Release/net10.0/SessionCache.ClusterBenchmarks.dll" notice 1000 100000 1000000
echo
echo "## this build: entries indexed by user and session"
dotnet benchmarks/SessionCache.ClusterBenchmarks/bin/Release/net10.0/SessionCache.ClusterBenchmarks.dll notice 1000 100000 1000000
