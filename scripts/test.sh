#!/usr/bin/env bash
# Runs every test: installs what the tests need (idempotent, into .deps/), then the whole
# workspace's unit and integration tests, with the lockfile as committed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup-test-deps.sh
# The integration tests run the workspace's binaries (the test runtime, the examples, the
# official-crate fixtures, shutdown-enabler), which `cargo test` alone does not build.
cargo build --workspace --locked --bins --examples
cargo test --workspace --locked "$@"
