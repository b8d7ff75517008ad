#!/usr/bin/env bash
# Echo throughput and latency: grace serve against cargo lambda watch and AWS's RIE, all serving
# the same lambda_runtime echo binary (see docs/BENCHMARKS.md for the latest figures).
#
#   scripts/bench.sh [grace-bench options]
#   scripts/bench.sh --duration 4 --rounds 3        # what docs/BENCHMARKS.md shows
#   scripts/bench.sh --c16 --systems grace,cargo-lambda --no-write
#   scripts/bench.sh --runtimes --rounds 3 --duration 3   # lambda-grace vs lambda_runtime clients
#   scripts/bench.sh --floor --rounds 3 --duration 3      # wrk → nginx → nginx floor vs the echo systems
#   scripts/bench.sh --lifecycle --rounds 3               # cold start, freeze/thaw, memory, shutdown
#   scripts/bench.sh --help
#
# Installs the peers into .deps/ (scripts/setup-test-deps.sh), builds the release binaries, then
# runs target/release/grace-bench with the given arguments, which rewrites its generated section of
# docs/BENCHMARKS.md (the matrix's; with --runtimes, --floor or --lifecycle, that mode's own section).
# Loopback only; every process it starts is stopped before it exits.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/setup-test-deps.sh
cargo build --release --locked -p grace -p grace-peer-fixtures -p example-echo -p example-hello -p grace-bench
exec target/release/grace-bench "$@"
