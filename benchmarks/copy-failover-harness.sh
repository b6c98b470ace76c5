#!/usr/bin/env bash
# Puts this build's SessionCache.FailoverBenchmarks harness (the benchmark, its packages and the test
# infrastructure it borrows) into the worktree of an older revision, so both builds print the same rows.
# Usage: benchmarks/copy-failover-harness.sh <worktree>   (from the repository root)
set -euo pipefail
tree="$1"
cp Directory.Packages.props "$tree/"
cp benchmarks/SessionCache.FailoverBenchmarks/*.cs benchmarks/SessionCache.FailoverBenchmarks/*.csproj "$tree/benchmarks/SessionCache.FailoverBenchmarks/"
rm -rf "$tree/tests/SessionCache.TestSupport" "$tree/tests/SessionCache.Processes.Tests/Infrastructure"
cp -r tests/SessionCache.TestSupport "$tree/tests/"
cp -r tests/SessionCache.Processes.Tests/Infrastructure "$tree/tests/SessionCache.Processes.Tests/"
