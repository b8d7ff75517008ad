#!/usr/bin/env bash
# Ground truth for `grace check`'s connection verdict: runs every variant N times (default 50)
# under `grace check --json` against a real PostgreSQL server (a fresh cluster in a temporary
# directory, or the one given with --port/--log) and prints, per variant, how often the check's
# `tcp` verdict agrees with the server's log. The logic is tests/oracle/oracle.py.
#
#   scripts/pg-oracle.sh                 # N=50, every variant, table on stdout
#   N=5 scripts/pg-oracle.sh --variant rust-no-hook --variant py-os-exit
#   N=1 scripts/pg-oracle.sh --json      # one JSON object per run (the test suite's form)
#
# Needs: `cargo build --workspace --locked --bins --examples` (grace, shutdown-enabler,
# postgres) and scripts/setup-test-deps.sh (PostgreSQL; .deps/venv with awslambdaric and
# psycopg2). GRACE=path picks another grace binary (its directory must hold the others).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.deps/venv/bin/python"
[[ -x "$PY" ]] || { echo "pg-oracle: $PY is missing: run scripts/setup-test-deps.sh" >&2; exit 1; }
"$PY" -c 'import awslambdaric, psycopg2' 2>/dev/null ||
  { echo "pg-oracle: .deps/venv lacks awslambdaric or psycopg2: run scripts/setup-test-deps.sh" >&2; exit 1; }
GRACE="${GRACE:-$ROOT/target/debug/grace}"
for b in grace shutdown-enabler postgres; do
  [[ -x "$(dirname "$GRACE")/$b" ]] ||
    { echo "pg-oracle: $(dirname "$GRACE")/$b is missing: cargo build --workspace --locked --bins --examples" >&2; exit 1; }
done
exec "$PY" "$ROOT/tests/oracle/oracle.py" --grace "$GRACE" --python "$PY" "$@"
