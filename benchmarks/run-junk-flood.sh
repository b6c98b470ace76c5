#!/usr/bin/env bash
# A flood of 90,000 distinct junk session cookies of 8 KB at GET /api/auth/session (wrk, 2 threads,
# 8 connections, as fast as the silo answers), against the silo built from BASELINE (default
# 2e989ce, before the near cache stopped keeping junk) and this checkout's, one after the other
# in one run. For each: resident memory before and at peak, and the p99 of valid cached sessions
# looked up meanwhile (wrk -t1 -c4 --latency) against the same lookups without a flood. A flood
# still running after FLOOD_LIMIT seconds (default 120; the baseline slows down as its near cache
# fills) is stopped there and the cookies it sent are reported.
# Usage: benchmarks/run-junk-flood.sh [rounds]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-3}"
baseline_commit="${BASELINE:-2e989ce}"
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
[ -d tests/authjs/node_modules ] || (cd tests/authjs && npm ci --no-audit --no-fund --loglevel=error)
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done
  git worktree remove --force "$work/baseline" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

node benchmarks/node/mint.mjs "$work/tokens.json"
read -r valid s0 s1 s2 < <(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print(t["salt"]+"="+t["token"], *t["secrets"])' "$work/tokens.json")
export AUTH_SECRET="$s0" AUTH_SECRET_1="$s1" AUTH_SECRET_2="$s2"

echo "==> building this checkout and $baseline_commit (Release)"
git worktree add --detach "$work/baseline" "$baseline_commit" >/dev/null 2>&1
dotnet build -c Release -v q --nologo src/Silo >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
dotnet build -c Release -v q --nologo "$work/baseline/src/Silo" >"$work/build-baseline.log" 2>&1 || { cat "$work/build-baseline.log"; exit 1; }

rss_mb() { awk '/^VmRSS:/ { printf "%d", $2 / 1024 }' "/proc/$1/status"; }
p99_ms() { # wrk --latency output -> p99 in ms
  awk '/^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 }; printf "%.3f", v }'
}

run_one() { # name dll port
  local name="$1" dll="$2" port="$3"
  SessionCache__Mode=Local Cluster__SiloPort=$((port + 6000)) Cluster__GatewayPort=$((port + 25000)) Logging__LogLevel__Default=Warning \
    dotnet "$dll" --urls "http://127.0.0.1:$port" >"$work/silo-$port.log" 2>&1 &
  local pid=$!
  pids+=($pid)
  for _ in $(seq 1 240); do curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.5; done
  curl -fs -H "Cookie: $valid" "http://127.0.0.1:$port/api/auth/session" | grep -q '"user"' || { echo "$name does not resolve the token"; exit 1; }
  # Warm: JIT, pools, and the valid session cached.
  wrk -t1 -c4 -d3s -H "Cookie: $valid" "http://127.0.0.1:$port/api/auth/session" >/dev/null
  JUNK_PER_THREAD=1000 wrk -t2 -c8 -d30s -s benchmarks/lua/junk.lua "http://127.0.0.1:$port" >/dev/null
  local quiet before peak flooded started elapsed
  quiet="$(wrk -t1 -c4 -d8s --latency -H "Cookie: $valid" "http://127.0.0.1:$port/api/auth/session" | p99_ms)"
  before="$(rss_mb "$pid")"
  peak="$before"
  started=$(date +%s.%N)
  JUNK_PER_THREAD=45000 wrk -t2 -c8 -d"${FLOOD_LIMIT:-120}s" -s benchmarks/lua/junk.lua "http://127.0.0.1:$port" >"$work/flood.txt" &
  local flood=$!
  sleep 2
  wrk -t1 -c4 -d8s --latency -H "Cookie: $valid" "http://127.0.0.1:$port/api/auth/session" >"$work/probe.txt" &
  local probe=$!
  while kill -0 "$flood" 2>/dev/null; do
    local now; now="$(rss_mb "$pid")"; [ "$now" -gt "$peak" ] && peak="$now"; sleep 0.2
  done
  elapsed=$(python3 -c "import time; print(f'{time.time() - $started:.1f}')")
  wait "$probe"
  flooded="$(p99_ms <"$work/probe.txt")"
  local sent; sent="$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$work/flood.txt")"
  echo "$name: flood $sent cookies in ${elapsed}s; rss before ${before} MB, peak ${peak} MB (+$((peak - before))); valid p99 quiet ${quiet} ms, flooded ${flooded} ms"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

for round in $(seq 1 "$rounds"); do
  echo "round $round" | tee -a "$work/results.txt"
  run_one baseline "$work/baseline/src/Silo/bin/Release/net10.0/SessionCache.Silo.dll" 5191 | tee -a "$work/results.txt"
  run_one current src/Silo/bin/Release/net10.0/SessionCache.Silo.dll 5192 | tee -a "$work/results.txt"
done
python3 - "$work/results.txt" "$baseline_commit" <<'PY'
import re, statistics, sys
rows = {"baseline": [], "current": []}
for line in open(sys.argv[1]):
    m = re.match(r"(baseline|current): .*\(\+(\d+)\); valid p99 quiet ([\d.]+) ms, flooded ([\d.]+) ms", line)
    if m:
        rows[m[1]].append((int(m[2]), float(m[3]), float(m[4])))
for name, r in rows.items():
    growth = statistics.median(x[0] for x in r); quiet = statistics.median(x[1] for x in r); flooded = statistics.median(x[2] for x in r)
    label = f"{name} ({sys.argv[2]})" if name == "baseline" else name
    print(f"median {label}: resident +{growth:.0f} MB, valid p99 {quiet:.2f} ms quiet, {flooded:.2f} ms flooded ({flooded / quiet:.2f}x)")
PY
