#!/usr/bin/env bash
# Cluster benchmarks, each next to its baseline in the same run:
#   1. a hit through GetServerSessionAsync in a co-hosted silo vs a bare Orleans call to the local
#      session grain (and decoding without any cache);
#   2. the silo's GET /api/auth/session under wrk (16 connections) vs the Auth.js endpoint itself;
#   3. lookups through the client at 1 and 16 callers vs redis-benchmark GET of a 400-byte value.
# Usage: benchmarks/run-cluster.sh   (installs nothing but the pinned Auth.js packages; needs wrk,
# redis-server and redis-benchmark: apt-get install wrk redis-server)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[ -d tests/authjs/node_modules ] || (cd tests/authjs && npm ci --no-audit --no-fund --loglevel=error)
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

node benchmarks/node/mint.mjs "$work/tokens.json"
read -r cookie s0 s1 s2 < <(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print(t["salt"]+"="+t["token"], *t["secrets"])' "$work/tokens.json")
export AUTH_SECRET="$s0" AUTH_SECRET_1="$s1" AUTH_SECRET_2="$s2"

for project in benchmarks/SessionCache.ClusterBenchmarks src/Silo; do
  dotnet build -c Release -v q --nologo "$project" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
done
bench="dotnet benchmarks/SessionCache.ClusterBenchmarks/bin/Release/net10.0/SessionCache.ClusterBenchmarks.dll"

echo "## 1. Co-hosted hit"
$bench cohosted "$work/tokens.json"

echo
echo "## 2. HTTP session endpoint, wrk -t2 -c16"
SessionCache__Mode=Local Cluster__SiloPort=11191 Cluster__GatewayPort=30091 Logging__LogLevel__Default=Warning \
  dotnet src/Silo/bin/Release/net10.0/SessionCache.Silo.dll --urls http://127.0.0.1:5081 >"$work/silo.log" 2>&1 &
pids+=($!)
# The server exits when its stdin closes (so that it dies with the tests); keep it open.
PORT=0 node tests/authjs/server.mjs < <(sleep 86400) >"$work/authjs.log" 2>/dev/null &
pids+=($!)
for _ in $(seq 1 120); do
  curl -fs http://127.0.0.1:5081/health >/dev/null 2>&1 && grep -q LISTENING "$work/authjs.log" && break
  sleep 0.5
done
authjs="http://127.0.0.1:$(sed -n 's/^LISTENING //p' "$work/authjs.log")/jwt/auth/session"
cluster="http://127.0.0.1:5081/api/auth/session"
[ "$(curl -fs -H "Cookie: $cookie" "$cluster" | head -c 8)" = '{"user":' ] || { echo "silo does not resolve the token"; cat "$work/silo.log"; exit 1; }
rps() { wrk -t2 -c16 -d8s -H "Cookie: $cookie" "$1" | sed -n 's/^Requests\/sec: *//p'; }
for round in 1 2 3; do
  echo "round $round: cluster $(rps "$cluster") req/s, Auth.js $(rps "$authjs") req/s" | tee -a "$work/http.txt"
done
python3 - "$work/http.txt" <<'PY'
import re, statistics, sys
rows = [tuple(map(float, re.findall(r"([\d.]+) req/s", l))) for l in open(sys.argv[1])]
c, a = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
print(f"median: cluster {c:.0f} req/s, Auth.js {a:.0f} req/s, ratio {c / a:.1f}x")
PY

echo
echo "## 3. Client lookups vs redis-benchmark GET (400-byte value)"
redis-server --port 6391 --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do redis-cli -p 6391 ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p 6391 set "key:__rand_int__" "$(head -c 400 /dev/zero | tr '\0' x)" >/dev/null
for callers in 1 16; do
  $bench client 127.0.0.1:30091 "$work/tokens.json" "$callers" 8 near
  $bench client 127.0.0.1:30091 "$work/tokens.json" "$callers" 8 grain
  redis-benchmark -p 6391 -t get -d 400 -c "$callers" -n $((callers == 1 ? 100000 : 400000)) --csv | tail -n 1 | sed "s/^/redis-benchmark c=$callers: /"
done
