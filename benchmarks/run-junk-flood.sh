#!/usr/bin/env bash
# 90,000 distinct junk session cookies of 8 KB sent to GET /api/auth/session at about 3,000 a
# second (wrk, 2 threads, 8 connections, paced; as in the issue's report), one server at a time,
# rounds alternating, in one run:
#   baseline  the silo built from BASELINE (default 2e989ce, before the near cache stopped keeping junk);
#   current   this checkout's silo;
#   floor     a bare Kestrel app answering the valid session's bytes for its cookie and null for
#             anything else (no parsing, no lookup): what the flood costs the machine itself.
# For each: resident memory before the flood and at its peak, and the p99 of the valid cached
# session looked up meanwhile (wrk -t1 -c4 --latency, 8 s from second 5) against the same lookups
# without a flood. Medians and ratios at the end. Usage: benchmarks/run-junk-flood.sh [rounds]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-3}"
baseline_commit="${BASELINE:-2e989ce}"
flood_seconds="${FLOOD_SECONDS:-45}"
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

echo "==> building this checkout, $baseline_commit and the floor (Release)"
git worktree add --detach "$work/baseline" "$baseline_commit" >/dev/null 2>&1
dotnet build -c Release -v q --nologo src/Silo >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
dotnet build -c Release -v q --nologo "$work/baseline/src/Silo" >"$work/build-baseline.log" 2>&1 || { cat "$work/build-baseline.log"; exit 1; }
mkdir -p "$work/floor"
cat >"$work/floor/floor.csproj" <<'XML'
<Project Sdk="Microsoft.NET.Sdk.Web"><PropertyGroup><TargetFramework>net10.0</TargetFramework><ImplicitUsings>enable</ImplicitUsings></PropertyGroup></Project>
XML
cat >"$work/floor/Program.cs" <<'CS'
// args: port, the valid Cookie header, a file with the session JSON it gets.
var valid = args[1];
var body = File.ReadAllBytes(args[2]);
var none = "null"u8.ToArray();
var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
var app = builder.Build();
app.MapGet("/api/auth/session", async context =>
{
    context.Response.ContentType = "application/json";
    await context.Response.Body.WriteAsync(context.Request.Headers.Cookie.ToString() == valid ? body : none);
});
app.Run($"http://127.0.0.1:{args[0]}");
CS
(cd "$work/floor" && printf '<Project />' > Directory.Build.props && printf '<Project />' > Directory.Packages.props && dotnet build -c Release -v q --nologo >"$work/build-floor.log" 2>&1) || { cat "$work/build-floor.log"; exit 1; }

rss_mb() { awk '/^VmRSS:/ { printf "%d", $2 / 1024 }' "/proc/$1/status"; }
p99_ms() { # wrk --latency output -> p99 in ms
  awk '/^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 }; printf "%.3f", v }'
}
probe() { wrk -t1 -c4 -d8s --latency -H "Cookie: $valid" "http://127.0.0.1:$1/api/auth/session"; }

run_one() { # name port command...
  local name="$1" port="$2"; shift 2
  "$@" >"$work/$name.log" 2>&1 &
  local pid=$!
  pids+=($pid)
  for _ in $(seq 1 240); do curl -fs -H "Cookie: $valid" "http://127.0.0.1:$port/api/auth/session" 2>/dev/null | grep -q '"user"' && break; sleep 0.5; done
  curl -fs -H "Cookie: $valid" "http://127.0.0.1:$port/api/auth/session" >"$work/session-$name.json"
  grep -q '"user"' "$work/session-$name.json" || { echo "$name does not answer the session"; cat "$work/$name.log"; exit 1; }
  # Warm: JIT, pools, the valid session cached, the junk path run.
  wrk -t1 -c4 -d3s -H "Cookie: $valid" "http://127.0.0.1:$port/api/auth/session" >/dev/null
  JUNK_RATE=3000 JUNK_PER_THREAD=1000 wrk -t2 -c8 -d2s -s benchmarks/lua/junk.lua "http://127.0.0.1:$port" >/dev/null
  local quiet before peak flooded sent
  quiet="$(probe "$port" | p99_ms)"
  before="$(rss_mb "$pid")"
  peak="$before"
  JUNK_RATE=3000 JUNK_PER_THREAD=45000 wrk -t2 -c8 -d"${flood_seconds}s" -s benchmarks/lua/junk.lua "http://127.0.0.1:$port" >"$work/flood.txt" &
  local flood=$!
  (sleep 5; probe "$port" >"$work/probe.txt") &
  local prober=$!
  while kill -0 "$flood" 2>/dev/null; do
    local now; now="$(rss_mb "$pid")"; [ "$now" -gt "$peak" ] && peak="$now"; sleep 0.2
  done
  wait "$prober"
  flooded="$(p99_ms <"$work/probe.txt")"
  sent="$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$work/flood.txt")"
  echo "$name: $sent junk cookies in ${flood_seconds}s; rss before ${before} MB, peak ${peak} MB (+$((peak - before))); valid p99 quiet ${quiet} ms, flooded ${flooded} ms"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

silo_env=(env SessionCache__Mode=Local Logging__LogLevel__Default=Warning)
for round in $(seq 1 "$rounds"); do
  echo "round $round" | tee -a "$work/results.txt"
  run_one baseline 5191 "${silo_env[@]}" Cluster__SiloPort=11191 Cluster__GatewayPort=30191 \
    dotnet "$work/baseline/src/Silo/bin/Release/net10.0/SessionCache.Silo.dll" --urls http://127.0.0.1:5191 | tee -a "$work/results.txt"
  run_one current 5192 "${silo_env[@]}" Cluster__SiloPort=11192 Cluster__GatewayPort=30192 \
    dotnet src/Silo/bin/Release/net10.0/SessionCache.Silo.dll --urls http://127.0.0.1:5192 | tee -a "$work/results.txt"
  run_one floor 5193 dotnet "$work/floor/bin/Release/net10.0/floor.dll" 5193 "$valid" "$work/session-current.json" | tee -a "$work/results.txt"
done
python3 - "$work/results.txt" "$baseline_commit" <<'PY'
import re, statistics, sys
rows = {"baseline": [], "current": [], "floor": []}
for line in open(sys.argv[1]):
    m = re.match(r"(baseline|current|floor): (\d+) junk .*\(\+(-?\d+)\); valid p99 quiet ([\d.]+) ms, flooded ([\d.]+) ms", line)
    if m:
        rows[m[1]].append((int(m[2]), int(m[3]), float(m[4]), float(m[5])))
for name, r in rows.items():
    sent, growth, quiet, flooded = (statistics.median(x[i] for x in r) for i in range(4))
    label = f"{name} ({sys.argv[2]})" if name == "baseline" else name
    print(f"median {label}: {sent:.0f} junk cookies, resident +{growth:.0f} MB, valid p99 {quiet:.2f} ms quiet, {flooded:.2f} ms flooded ({flooded / quiet:.2f}x)")
PY
