#!/usr/bin/env bash
# GET /api/auth/session on a silo next to its floor: a bare Kestrel endpoint answering the same
# bytes from a dictionary by the cookie's value (ClusterBenchmarks bare-http), under the same wrk
# (2 threads, 16 connections, 8 s), alternating, three rounds, one run.
# Usage: benchmarks/run-http.sh   (installs wrk if missing; needs the pinned Auth.js packages)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -d tests/authjs/node_modules ] || (cd tests/authjs && npm ci --no-audit --no-fund --loglevel=error)
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

node benchmarks/node/mint.mjs "$work/tokens.json"
read -r salt token s0 s1 s2 < <(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print(t["salt"], t["token"], *t["secrets"])' "$work/tokens.json")
cookie="$salt=$token"
for project in benchmarks/SessionCache.ClusterBenchmarks src/Silo; do
  dotnet build -c Release -v q --nologo "$project" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
done

AUTH_SECRET="$s0" AUTH_SECRET_1="$s1" AUTH_SECRET_2="$s2" SessionCache__Mode=Local \
  Cluster__SiloPort=11193 Cluster__GatewayPort=30093 Logging__LogLevel__Default=Warning \
  dotnet src/Silo/bin/Release/net10.0/SessionCache.Silo.dll --urls http://127.0.0.1:5083 >"$work/silo.log" 2>&1 &
pids+=($!)
cluster="http://127.0.0.1:5083/api/auth/session"
for _ in $(seq 1 120); do curl -fs http://127.0.0.1:5083/health/ready >/dev/null 2>&1 && break; sleep 0.5; done
curl -fs -H "Cookie: $cookie" "$cluster" >"$work/session.json"
[ "$(head -c 8 "$work/session.json")" = '{"user":' ] || { echo "the silo does not resolve the token"; tail -20 "$work/silo.log"; exit 1; }

dotnet benchmarks/SessionCache.ClusterBenchmarks/bin/Release/net10.0/SessionCache.ClusterBenchmarks.dll \
  bare-http http://127.0.0.1:5084 "$salt" "$token" "$work/session.json" >"$work/bare.log" 2>&1 &
pids+=($!)
bare="http://127.0.0.1:5084/api/auth/session"
for _ in $(seq 1 60); do curl -fs -H "Cookie: $cookie" "$bare" >/dev/null 2>&1 && break; sleep 0.5; done
cmp -s <(curl -fs -H "Cookie: $cookie" "$bare") "$work/session.json" || { echo "the bare endpoint answers other bytes"; exit 1; }

rps() { wrk -t2 -c16 -d8s -H "Cookie: $cookie" "$1" | sed -n 's/^Requests\/sec: *//p'; }
# Warm both up first (JIT tiers, connection pools), unmeasured.
for url in "$cluster" "$bare"; do wrk -t2 -c16 -d4s -H "Cookie: $cookie" "$url" >/dev/null; done
for round in 1 2 3; do
  echo "round $round: silo $(rps "$cluster") req/s, bare Kestrel $(rps "$bare") req/s" | tee -a "$work/http.txt"
done
python3 - "$work/http.txt" <<'PY'
import re, statistics, sys
rows = [tuple(map(float, re.findall(r"([\d.]+) req/s", l))) for l in open(sys.argv[1])]
s, b = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
print(f"median: silo {s:.0f} req/s, bare Kestrel {b:.0f} req/s, silo / bare = {s / b:.2f}x")
PY
