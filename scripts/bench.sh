#!/usr/bin/env bash
# Benchmarks of grace serve against cargo lambda watch and AWS's RIE, and of the lambda-grace
# runtime client against lambda_runtime (see docs/BENCHMARKS.md for the latest figures).
#
#   scripts/bench.sh MODE [options]          # MODE: matrix | runtimes | floor | lifecycle | soak | http
#   scripts/bench.sh matrix --duration 4 --rounds 3       # echo throughput and latency, all systems
#   scripts/bench.sh matrix --c16 --systems grace,cargo-lambda --no-write
#   scripts/bench.sh runtimes --rounds 5 --duration 3     # lambda-grace vs lambda_runtime, under grace, cargo lambda watch and RIE
#   scripts/bench.sh floor --rounds 3 --duration 3        # wrk → nginx → nginx floor vs the echo systems
#   scripts/bench.sh lifecycle --rounds 3                 # cold start, freeze/thaw, memory, shutdown
#   scripts/bench.sh soak --duration 600                  # 64 callers, unique payloads, 10 minutes
#   scripts/bench.sh http --rounds 4 --duration 3         # HTTP through a function URL: grace vs cargo lambda, same lambda_http binary
#   scripts/bench.sh help | scripts/bench.sh MODE --help
#
# Installs the peers into .deps/ (scripts/setup-test-deps.sh), builds the release binaries, then
# runs target/release/grace-bench with the given arguments, which rewrites that mode's generated
# section of docs/BENCHMARKS.md (between its markers; --no-write only prints).
# Loopback only; every process it starts is stopped before it exits.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/setup-test-deps.sh
case "${1:-}" in
  # Only what the mode serves: the axum app on lambda_http and on lambda-grace-http.
  http) cargo build --release --locked -p grace -p example-http-axum -p grace-bench ;;
  *) cargo build --release --locked -p grace -p grace-peer-fixtures -p example-echo -p example-hello -p grace-bench ;;
esac
exec target/release/grace-bench "$@"
