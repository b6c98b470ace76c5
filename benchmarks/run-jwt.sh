#!/usr/bin/env bash
# Local JWT resolution per lookup: .NET next to Auth.js' own decode in Node, same token, one run.
# Usage: benchmarks/run-jwt.sh   (after scripts/test.sh has installed the Auth.js packages)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[ -d tests/authjs/node_modules ] || (cd tests/authjs && npm ci --no-audit --no-fund --loglevel=error)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
node benchmarks/node/mint.mjs "$work/tokens.json"
export SESSIONCACHE_BENCH_TOKENS="$work/tokens.json"

echo "==> Node: @auth/core decode"
node_json="$(node benchmarks/node/jwt-decode.mjs "$work/tokens.json")"
echo "$node_json"

echo "==> .NET: JwtSessionSource.Resolve"
dotnet run -c Release --project benchmarks/SessionCache.Benchmarks -- \
  --filter '*JwtResolutionBenchmark*' --exporters github --artifacts "$work/bdn" >"$work/bdn.log" 2>&1 || { cat "$work/bdn.log"; exit 1; }
report="$(ls "$work"/bdn/results/*JwtResolutionBenchmark-report-github.md)"
cat "$report"

node_us="$(echo "$node_json" | sed -E 's/.*"medianMicroseconds":([0-9.]+).*/\1/')"
python3 - "$report" "$node_us" <<'PY'
import re, sys
report, node_us = open(sys.argv[1]).read(), float(sys.argv[2])
header = next(l for l in report.splitlines() if l.startswith("| Method"))
cols = [c.strip() for c in header.strip("|").split("|")]
row = next(l for l in report.splitlines() if "ResolveJwtSession" in l)
cells = [c.strip() for c in row.strip("|").split("|")]
median = cells[cols.index("Median")] if "Median" in cols else cells[cols.index("Mean")]
value, unit = re.match(r"([\d.,]+)\s*(\w+)", median).groups()
dotnet_us = float(value.replace(",", "")) * {"ns": 1e-3, "us": 1, "μs": 1, "ms": 1e3}[unit]
print(f"\nmedian per lookup: .NET {dotnet_us:.2f} us, Node {node_us:.2f} us, Node/.NET = {node_us / dotnet_us:.1f}x")
PY
