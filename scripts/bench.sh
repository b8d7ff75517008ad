#!/usr/bin/env bash
# Echo throughput and latency: grace serve against cargo lambda watch and AWS's RIE, all serving
# the same lambda_runtime echo binary (see docs/BENCHMARKS.md for the latest figures).
#
#   scripts/bench.sh [grace-bench options]
#   scripts/bench.sh --duration 4 --rounds 3        # what docs/BENCHMARKS.md shows
#   scripts/bench.sh --c16 --systems grace,cargo-lambda --no-write
#   scripts/bench.sh --help
#
# Installs the peers into .deps/ (scripts/setup-test-deps.sh), builds the release binaries, then
# runs target/release/grace-bench, which rewrites the generated section of docs/BENCHMARKS.md.
# Loopback only; every process it starts is stopped before it exits.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/setup-test-deps.sh
cargo build --release --locked -p grace -p grace-peer-fixtures -p grace-bench
exec target/release/grace-bench "$@"
