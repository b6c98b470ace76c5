#!/usr/bin/env bash
# The cost of Cluster:Tls on a gateway lookup: the client (no near cache, so every lookup is a
# round trip through the gateway to the session grain) against a silo without TLS and one with
# mutual TLS (certificates from scripts/dev-certs.sh), at 1 and 16 callers, rounds alternating in
# one run; medians and ratios at the end. Usage: benchmarks/run-tls.sh [rounds]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-3}"
[ -d tests/authjs/node_modules ] || (cd tests/authjs && npm ci --no-audit --no-fund --loglevel=error)
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

node benchmarks/node/mint.mjs "$work/tokens.json"
read -r cookie s0 s1 s2 < <(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print(t["salt"]+"="+t["token"], *t["secrets"])' "$work/tokens.json")
export AUTH_SECRET="$s0" AUTH_SECRET_1="$s1" AUTH_SECRET_2="$s2"
DEV_CERTS_DIR="$work/certs" scripts/dev-certs.sh >/dev/null

for project in benchmarks/SessionCache.ClusterBenchmarks src/Silo; do
  dotnet build -c Release -v q --nologo "$project" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
done
bench="dotnet benchmarks/SessionCache.ClusterBenchmarks/bin/Release/net10.0/SessionCache.ClusterBenchmarks.dll"
silo="src/Silo/bin/Release/net10.0/SessionCache.Silo.dll"
tls=(Cluster__Tls__Enabled=true "Cluster__Tls__CaCertificates=$work/certs/ca.pem")

SessionCache__Mode=Local Cluster__SiloPort=11291 Cluster__GatewayPort=30291 Logging__LogLevel__Default=Warning \
  dotnet "$silo" --urls http://127.0.0.1:5291 >"$work/plain.log" 2>&1 &
pids+=($!)
env "${tls[@]}" "Cluster__Tls__Certificate=$work/certs/member.pem" "Cluster__Tls__PrivateKey=$work/certs/member.key" \
  SessionCache__Mode=Local Cluster__SiloPort=11292 Cluster__GatewayPort=30292 Logging__LogLevel__Default=Warning \
  dotnet "$silo" --urls http://127.0.0.1:5292 >"$work/tls.log" 2>&1 &
pids+=($!)
for port in 5291 5292; do
  for _ in $(seq 1 240); do curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.5; done
done

for round in $(seq 1 "$rounds"); do
  for callers in 1 16; do
    plain="$($bench client 127.0.0.1:30291 "$work/tokens.json" "$callers" 6 grain)"
    secure="$(env "${tls[@]}" "Cluster__Tls__Certificate=$work/certs/client.pem" "Cluster__Tls__PrivateKey=$work/certs/client.key" \
      $bench client 127.0.0.1:30292 "$work/tokens.json" "$callers" 6 grain)"
    echo "round $round callers $callers: plain $plain tls $secure" | tee -a "$work/results.txt"
  done
done
python3 - "$work/results.txt" <<'PY'
import json, re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"round \d+ callers (\d+): plain (\{.*?\}) tls (\{.*\})", line)
    plain, tls = json.loads(m[2]), json.loads(m[3])
    rows.setdefault(int(m[1]), []).append((plain, tls))
for callers, r in sorted(rows.items()):
    med = lambda key, i: statistics.median(x[i][key] for x in r)
    print(f"{callers} caller(s): median {med('medianMicroseconds', 0):.1f} us plain, {med('medianMicroseconds', 1):.1f} us TLS "
          f"({med('medianMicroseconds', 1) / med('medianMicroseconds', 0):.2f}x); p99 {med('p99Microseconds', 0):.1f} / {med('p99Microseconds', 1):.1f} us; "
          f"{med('requestsPerSecond', 0):.0f} / {med('requestsPerSecond', 1):.0f} lookups/s ({med('requestsPerSecond', 1) / med('requestsPerSecond', 0):.2f}x)")
PY
