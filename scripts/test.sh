#!/usr/bin/env bash
# Runs every test: installs what the tests need (idempotent, into .deps/), then the whole
# workspace's unit and integration tests, with the lockfile as committed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup-test-deps.sh
cargo test --workspace --locked "$@"
