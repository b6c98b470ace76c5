#!/usr/bin/env bash
# GET /api/auth/session under wrk (-t2 -c16), with and without cookie re-issue, in one run:
#   baseline  the silo built from BASELINE (default 9d6aacb, before the endpoint set cookies), a young token;
#   current   this checkout's silo, the same young token (no re-issue: the common case);
#   reissue   this checkout's silo, a token older than UpdateAge: wrk never takes the new cookie, so
#             every request decodes, re-encrypts and sets it again (the worst case);
#   floor     a bare Kestrel app answering the same session bytes for any request.
# Rounds alternate; medians and ratios at the end. Usage: benchmarks/run-session-cookies.sh [rounds]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-5}"
baseline_commit="${BASELINE:-9d6aacb}"
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

RENEWAL=1 node benchmarks/node/mint.mjs "$work/tokens.json"
read -r young old s0 s1 s2 < <(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print(t["salt"]+"="+t["token"], t["salt"]+"="+t["oldToken"], *t["secrets"])' "$work/tokens.json")
export AUTH_SECRET="$s0" AUTH_SECRET_1="$s1" AUTH_SECRET_2="$s2"

echo "==> building this checkout and $baseline_commit (Release)"
git worktree add --detach "$work/baseline" "$baseline_commit" >/dev/null 2>&1
dotnet build -c Release -v q --nologo src/Silo >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
dotnet build -c Release -v q --nologo "$work/baseline/src/Silo" >"$work/build-baseline.log" 2>&1 || { cat "$work/build-baseline.log"; exit 1; }

start_silo() { # dll http-port silo-port gateway-port
  SessionCache__Mode=Local Cluster__SiloPort="$3" Cluster__GatewayPort="$4" Logging__LogLevel__Default=Warning \
    dotnet "$1" --urls "http://127.0.0.1:$2" >"$work/silo-$2.log" 2>&1 &
  pids+=($!)
}
start_silo "$work/baseline/src/Silo/bin/Release/net10.0/SessionCache.Silo.dll" 5091 11192 30092
start_silo src/Silo/bin/Release/net10.0/SessionCache.Silo.dll 5092 11193 30093
for port in 5091 5092; do
  for _ in $(seq 1 240); do curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.5; done
done
session="$(curl -fs -H "Cookie: $young" http://127.0.0.1:5092/api/auth/session)"
[ "${session:0:8}" = '{"user":' ] || { echo "silo does not resolve the token"; cat "$work/silo-5092.log"; exit 1; }
curl -fsi -H "Cookie: $old" http://127.0.0.1:5092/api/auth/session | grep -qi '^set-cookie: authjs.session-token=ey' \
  || { echo "the silo does not re-issue the old token"; exit 1; }
! curl -fsi -H "Cookie: $young" http://127.0.0.1:5092/api/auth/session | grep -qi '^set-cookie' \
  || { echo "the silo re-issued a young token"; exit 1; }

# The floor: the same bytes from a minimal Kestrel app (no parsing, no lookup).
mkdir -p "$work/floor"
printf '%s' "$session" >"$work/floor/session.json"
cat >"$work/floor/floor.csproj" <<'XML'
<Project Sdk="Microsoft.NET.Sdk.Web"><PropertyGroup><TargetFramework>net10.0</TargetFramework><ImplicitUsings>enable</ImplicitUsings></PropertyGroup></Project>
XML
cat >"$work/floor/Program.cs" <<'CS'
var body = File.ReadAllBytes(args[0]);
var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
var app = builder.Build();
app.MapGet("/api/auth/session", async context =>
{
    context.Response.ContentType = "application/json";
    await context.Response.Body.WriteAsync(body);
});
app.Run("http://127.0.0.1:5093");
CS
(cd "$work/floor" && printf '<Project />' > Directory.Build.props && printf '<Project />' > Directory.Packages.props && dotnet build -c Release -v q --nologo >"$work/build-floor.log" 2>&1) || { cat "$work/build-floor.log"; exit 1; }
dotnet "$work/floor/bin/Release/net10.0/floor.dll" "$work/floor/session.json" >"$work/floor.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do curl -fs http://127.0.0.1:5093/api/auth/session >/dev/null 2>&1 && break; sleep 0.5; done

rps() { wrk -t2 -c16 -d8s -H "Cookie: $2" "$1" | sed -n 's/^Requests\/sec: *//p'; }
for round in $(seq 1 "$rounds"); do
  b="$(rps http://127.0.0.1:5091/api/auth/session "$young")"
  c="$(rps http://127.0.0.1:5092/api/auth/session "$young")"
  r="$(rps http://127.0.0.1:5092/api/auth/session "$old")"
  f="$(rps http://127.0.0.1:5093/api/auth/session "$young")"
  echo "round $round: baseline $b, current $c, reissue $r, floor $f req/s" | tee -a "$work/http.txt"
done
python3 - "$work/http.txt" "$baseline_commit" <<'PY'
import re, statistics, sys
rows = [dict(re.findall(r"(baseline|current|reissue|floor) ([\d.]+)", l)) for l in open(sys.argv[1])]
m = {k: statistics.median(float(r[k]) for r in rows) for k in ("baseline", "current", "reissue", "floor")}
print(f"median req/s: baseline ({sys.argv[2]}) {m['baseline']:.0f}, current {m['current']:.0f}, re-issue on every request {m['reissue']:.0f}, floor {m['floor']:.0f}")
print(f"current / baseline {m['current'] / m['baseline']:.3f}; re-issue / current {m['reissue'] / m['current']:.3f}; current / floor {m['current'] / m['floor']:.3f}")
PY
