#!/usr/bin/env bash
# Runs the whole test suite N times, each from a fresh clone of HEAD, and prints the tally:
# how many runs passed, how long each took, and the tests that failed in any run.
#
#   scripts/fresh-runs.sh            # N=20
#   N=3 scripts/fresh-runs.sh
#   N=5 KEEP_TARGET=1 scripts/fresh-runs.sh   # reuse one build directory across the clones
#
# Each run is `scripts/test.sh` in its own clone (the README's test command); logs go to
# $OUT (default a new temporary directory), one file per run. Loopback only, like the suite.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${N:-20}"
OUT="${OUT:-$(mktemp -d -t grace-fresh-runs.XXXXXX)}"
shared="$OUT/target"
passed=0
declare -a failed_tests=()
for i in $(seq 1 "$N"); do
  clone="$OUT/clone-$i"
  git clone -q "$ROOT" "$clone"
  # The dependencies the suite installs are big and slow to fetch: share them, as a developer's
  # second clone would (setup-test-deps.sh is idempotent and checks them).
  [[ -d "$ROOT/.deps" ]] && ln -s "$ROOT/.deps" "$clone/.deps"
  if [[ -n "${KEEP_TARGET:-}" ]]; then export CARGO_TARGET_DIR="$shared"; fi
  start=$(date +%s)
  (cd "$clone" && scripts/test.sh) >"$OUT/run-$i.log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  if [[ $rc -eq 0 ]]; then
    passed=$((passed + 1))
    echo "run $i/$N: pass (${took} s)"
  else
    echo "run $i/$N: FAIL (${took} s), log: $OUT/run-$i.log"
    while read -r t; do failed_tests+=("$t"); done < <(grep -oE '^test [^ ]+ \.\.\. FAILED' "$OUT/run-$i.log" | awk '{print $2}')
  fi
  rm -rf "$clone"
done
echo "fresh-clone runs: $passed of $N passed"
if ((${#failed_tests[@]})); then
  echo "failed tests (count):"
  printf '%s\n' "${failed_tests[@]}" | sort | uniq -c | sort -rn
fi
echo "$passed passed, $((N - passed)) failed"
[[ $passed -eq $N ]]
