#!/usr/bin/env bash
# A co-hosted near-cache hit from the Cookie header: this build next to b2c07cd (the build before the
# allocation-free hit path), each with two floors (the header parsed, a dictionary read; the same
# without allocating) and FusionCache's memory-level hit on the same header, one run.
# Usage: benchmarks/run-hit.sh   (after scripts/test.sh has installed the Auth.js packages)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[ -d tests/authjs/node_modules ] || (cd tests/authjs && npm ci --no-audit --no-fund --loglevel=error)
work="$(mktemp -d)"
cleanup() { git worktree remove --force "$work/baseline" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
git worktree add --detach "$work/baseline" b2c07cd >/dev/null 2>&1
node benchmarks/node/mint.mjs "$work/tokens.json"
# The baseline's harness, with this build's floors, FusionCache and allocation counts, so both print the same rows.
cp benchmarks/SessionCache.ClusterBenchmarks/Program.cs benchmarks/SessionCache.ClusterBenchmarks/SessionCache.ClusterBenchmarks.csproj "$work/baseline/benchmarks/SessionCache.ClusterBenchmarks/"
cp Directory.Packages.props "$work/baseline/"
for tree in "$work/baseline" "$root"; do
  dotnet build -c Release -v q --nologo "$tree/benchmarks/SessionCache.ClusterBenchmarks" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
done
for run in 1 2; do
  echo "## round $run: baseline (b2c07cd)"
  dotnet "$work/baseline/benchmarks/SessionCache.ClusterBenchmarks/bin/Release/net10.0/SessionCache.ClusterBenchmarks.dll" cohosted "$work/tokens.json" 2>/dev/null | grep -E '^\||bytes|floor ='
  echo "## round $run: this build"
  dotnet benchmarks/SessionCache.ClusterBenchmarks/bin/Release/net10.0/SessionCache.ClusterBenchmarks.dll cohosted "$work/tokens.json" 2>/dev/null | grep -E '^\||bytes|floor ='
done
