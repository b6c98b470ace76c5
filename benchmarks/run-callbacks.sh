#!/usr/bin/env bash
# The app's Auth.js callbacks module in local mode: one resolution with it next to one without (and
# next to the field mapping and the .NET hook, which give the same shape), then a co-hosted hit in a
# silo with it next to one without, all in one process, interleaved.
# Usage: benchmarks/run-callbacks.sh   (after scripts/test.sh has installed the Auth.js packages)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[ -d tests/authjs/node_modules ] || (cd tests/authjs && npm ci --no-audit --no-fund --loglevel=error)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Auth.js' own encode, with the claims the sample's jwt callback copies in at sign-in (role, orgs, auth_time).
APP_CLAIMS=1 node benchmarks/node/mint.mjs "$work/tokens.json"
dotnet build -c Release -v q --nologo benchmarks/SessionCache.ClusterBenchmarks >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
dotnet benchmarks/SessionCache.ClusterBenchmarks/bin/Release/net10.0/SessionCache.ClusterBenchmarks.dll \
  callbacks "$work/tokens.json" "$root/samples/authjs-app/auth-callbacks.mjs"
