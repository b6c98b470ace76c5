#!/usr/bin/env bash
# The first run: one silo of the session cache next to a small sample Auth.js app, on this
# machine, with nothing else to install or configure. Prints where to sign in, where the
# dashboard is and a command-line lookup to try; Ctrl+C stops both.
#
# Overridable: SESSIONCACHE_RUN_PORT (silo HTTP, 5000), SESSIONCACHE_RUN_APP_PORT (sample app,
# 3000), Cluster__SiloPort / Cluster__GatewayPort (11111 / 30000), SESSIONCACHE_RUN_STATE (where
# secrets and logs go, .first-run), SESSIONCACHE_RUN_CONFIGURATION (Release),
# SESSIONCACHE_RUN_NO_BUILD=1 (use what is built).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

silo_port="${SESSIONCACHE_RUN_PORT:-5000}"
app_port="${SESSIONCACHE_RUN_APP_PORT:-3000}"
gateway_port="${Cluster__GatewayPort:-30000}"
configuration="${SESSIONCACHE_RUN_CONFIGURATION:-Release}"
state="${SESSIONCACHE_RUN_STATE:-$root/.first-run}"
mkdir -p "$state"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "==> installing Node.js (the sample Auth.js app runs on it)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

# Installed once, and again only when the lock file changes (npm ci would empty node_modules
# under anything else using the app meanwhile).
if [ ! -f samples/authjs-app/node_modules/.package-lock.json ] \
    || [ samples/authjs-app/package-lock.json -nt samples/authjs-app/node_modules/.package-lock.json ]; then
  echo "==> installing the sample Auth.js app's packages (samples/authjs-app)"
  (cd samples/authjs-app && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ "${SESSIONCACHE_RUN_NO_BUILD:-}" != "1" ]; then
  echo "==> building the silo and the command-line client ($configuration; log: $state/build.log)"
  : >"$state/build.log"
  for project in src/Silo src/Cli; do
    if ! dotnet build "$project" -c "$configuration" --nologo >>"$state/build.log" 2>&1; then
      grep -E "error|Error" "$state/build.log" | tail -n 20 >&2
      echo "The build failed; the whole log is $state/build.log." >&2
      exit 1
    fi
  done
fi

# The secret Auth.js encrypts session cookies with, which the silo needs to read them, and the
# key that guards sign-outs and the dashboard: made once, kept in $state, never committed.
if [ ! -s "$state/secrets" ]; then
  node -e 'const r = (n) => require("crypto").randomBytes(n).toString("base64url");
    console.log(`AUTH_SECRET=${r(33)}\nSESSION_CACHE_API_KEY=${r(24)}`)' > "$state/secrets"
  chmod 600 "$state/secrets"
fi
# shellcheck disable=SC1091
. "$state/secrets"

cli="scripts/sessioncache"
[ "$gateway_port" = "30000" ] || cli="$cli --gateway 127.0.0.1:$gateway_port"
[ "$configuration" = "Release" ] || cli="SESSIONCACHE_CONFIGURATION=$configuration $cli"

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "==> starting the sample Auth.js app on 127.0.0.1:$app_port (log: $state/authjs.log)"
AUTH_SECRET="$AUTH_SECRET" HOST=127.0.0.1 PORT="$app_port" \
  SESSION_CACHE_URL="http://127.0.0.1:$silo_port" SESSION_CACHE_API_KEY="$SESSION_CACHE_API_KEY" \
  LOOKUP_COMMAND="$cli" node samples/authjs-app/server.mjs >"$state/authjs.log" 2>&1 &
pids+=($!)

echo "==> starting a silo on 127.0.0.1:$silo_port (log: $state/silo.log)"
AUTH_SECRET="$AUTH_SECRET" SessionCache__Mode=Local SessionCache__ApiKey="$SESSION_CACHE_API_KEY" \
  SessionCache__CallbacksModule="$root/samples/authjs-app/auth-callbacks.mjs" \
  dotnet "src/Silo/bin/$configuration/net10.0/SessionCache.Silo.dll" --urls "http://127.0.0.1:$silo_port" >"$state/silo.log" 2>&1 &
silo=$!
pids+=($silo)

# Ready means the silo is an active member of its (one-silo) cluster and the app answers.
echo "==> waiting for the silo to join its cluster and the app to answer"
for _ in $(seq 1 120); do
  if ! kill -0 "$silo" 2>/dev/null; then
    echo "The silo stopped while starting; the end of $state/silo.log:" >&2
    tail -n 20 "$state/silo.log" >&2
    exit 1
  fi
  if node -e 'Promise.all(process.argv.slice(1).map((u) => fetch(u).then((r) => { if (!r.ok) throw 0 })))
      .then(() => process.exit(0), () => process.exit(1))' \
      "http://127.0.0.1:$silo_port/health/ready" "http://127.0.0.1:$app_port/healthz" 2>/dev/null; then
    break
  fi
  sleep 0.5
done

cat <<BANNER

  The session cache is running: one silo, next to a sample Auth.js app.

  1. Sign in           http://127.0.0.1:$app_port/
                       any name, password "authjs"; the page then shows your session cookie
  2. Watch it          http://127.0.0.1:$silo_port/dashboard/sessions
                       API key: $SESSION_CACHE_API_KEY
                       (Orleans' own dashboard: http://127.0.0.1:$silo_port/dashboard/)
  3. Look it up        $cli lookup --cookie 'authjs.session-token=<the cookie from step 1>'
                       $cli status
  4. Sign out on the page: the lookup then prints null.

  Logs: $state/silo.log, $state/authjs.log. Ctrl+C stops both.

BANNER
wait "$silo"
