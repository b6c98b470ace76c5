#!/usr/bin/env bash
# What issue 5's metrics cost a near-cache hit: the co-hosted hit benchmark of this checkout
# next to the same benchmark built from a baseline commit without metrics (default f7c272b),
# alternating, five rounds each, in one run. Medians of each round's median.
# Usage: benchmarks/run-metrics-overhead.sh [baseline-commit]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
baseline="${1:-f7c272b}"
[ -d tests/authjs/node_modules ] || (cd tests/authjs && npm ci --no-audit --no-fund --loglevel=error)
work="$(mktemp -d)"
cleanup() { git worktree remove --force "$work/baseline" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
git worktree add -q "$work/baseline" "$baseline"
for tree in "$root" "$work/baseline"; do
  dotnet build -c Release -v q --nologo "$tree/benchmarks/SessionCache.ClusterBenchmarks" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
done
node benchmarks/node/mint.mjs "$work/tokens.json" >/dev/null
dll=benchmarks/SessionCache.ClusterBenchmarks/bin/Release/net10.0/SessionCache.ClusterBenchmarks.dll
for round in 1 2 3 4 5; do
  for tree in baseline current; do
    dir="$root"; [ "$tree" = baseline ] && dir="$work/baseline"
    dotnet "$dir/$dll" cohosted "$work/tokens.json" 2>/dev/null | sed -n "s/^| \(GetServerSessionAsync[^|]*\|recording[^|]*\) | \([0-9.]*\) µs.*/$tree\t\1\t\2/p" >>"$work/results.tsv"
  done
done
python3 - "$work/results.tsv" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
def med(tree, case):
    return statistics.median(float(v) for t, c, v in rows if t == tree and c.startswith(case))
base, cur = med("baseline", "GetServerSessionAsync"), med("current", "GetServerSessionAsync")
rec = med("current", "recording")
print("| co-hosted near-cache hit | median of 5 rounds |")
print("| --- | ---: |")
print(f"| baseline (no metrics) | {base:.2f} µs |")
print(f"| with metrics | {cur:.2f} µs |")
print(f"| ratio | {cur / base:.2f}x |")
print(f"| recording one lookup's metrics alone | {rec:.2f} µs |")
PY
