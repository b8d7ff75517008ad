#!/usr/bin/env bash
# Prints the fault table of docs/HARDENING.md: runs the fault suite of `grace serve`
# (crates/cli/tests/it/faults.rs, ignored tests included) and collects the row each test prints.
# Columns: the caller's answer (status, X-Amz-Function-Error, errorType), whether the next
# invoke succeeded, and the pids of the environment still alive afterwards.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --workspace --locked --bins --examples >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Failing rows are part of the table; the summary goes to stderr.
cargo test -p grace --test it --locked faults:: -- --include-ignored --nocapture >"$log" 2>&1 || true
echo "| fault | status | X-Amz-Function-Error | errorType | next invoke ok | left running (pids) |"
echo "|---|---|---|---|---|---|"
grep '^FAULT |' "$log" | sed 's/^FAULT //' | sort
grep -E '^test result|^test .*FAILED|panicked' "$log" >&2 || true
