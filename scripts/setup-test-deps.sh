#!/usr/bin/env bash
# Installs what the test suite and the benchmarks need into the git-ignored
# folder .deps/ at the repository root (and a few Debian packages system-wide).
# Idempotent: a second run only checks and prints "ok" lines.
#
#   .deps/venv/                  Python venv: scripts/requirements-test.txt
#   .deps/cargo-lambda-venv/     Python venv holding the cargo-lambda wheel
#   .deps/peers/aws-lambda-rie   AWS Runtime Interface Emulator (from the aws-sam-cli wheel)
#   .deps/peers/cargo-lambda     symlink to the cargo-lambda binary
#   apt: wrk, postgresql, procps (only when missing)
#
# Environment: PYTHON (default python3) picks the interpreter for both venvs.
set -euo pipefail

SAM_CLI_VERSION=1.170.0
CARGO_LAMBDA_VERSION=1.9.2
APT_PACKAGES=(wrk postgresql procps chromium nginx)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/.deps"
REQS="$ROOT/scripts/requirements-test.txt"
PYTHON="${PYTHON:-python3}"

say() { printf '[setup-test-deps] %s\n' "$*"; }
die() { printf '[setup-test-deps] ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$DEPS/peers" "$DEPS/dl"

# One run at a time (two engineers or a test harness may call it concurrently).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$DEPS/.setup.lock"
  flock 9
fi

PIP_FLAGS=(--disable-pip-version-check --no-input -q)

# --- 1. test venv ----------------------------------------------------------
VENV="$DEPS/venv"
STAMP="$VENV/.requirements.sha256"
want="$( { sha256sum <"$REQS"; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  say "venv: ok (.deps/venv matches requirements-test.txt)"
else
  say "venv: installing scripts/requirements-test.txt into .deps/venv"
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  rm -f "$STAMP"
  "$VENV/bin/python" -m pip install "${PIP_FLAGS[@]}" -r "$REQS"
  printf '%s\n' "$want" >"$STAMP"
fi

# --- 2. AWS Runtime Interface Emulator --------------------------------------
case "$(uname -m)" in
  x86_64 | amd64) rie_arch=x86_64 ;;
  aarch64 | arm64) rie_arch=arm64 ;;
  *) die "no RIE build for architecture $(uname -m)" ;;
esac
RIE="$DEPS/peers/aws-lambda-rie"
RIE_STAMP="$RIE.version"
if [[ -x "$RIE" && -f "$RIE_STAMP" && "$(cat "$RIE_STAMP")" == "$SAM_CLI_VERSION $rie_arch" ]]; then
  say "rie: ok (from aws-sam-cli $SAM_CLI_VERSION, $rie_arch)"
else
  say "rie: extracting aws-lambda-rie-$rie_arch from aws-sam-cli $SAM_CLI_VERSION"
  shopt -s nullglob
  whl=("$DEPS"/dl/aws_sam_cli-"$SAM_CLI_VERSION"-*.whl)
  if ((${#whl[@]} == 0)); then
    "$VENV/bin/python" -m pip download "${PIP_FLAGS[@]}" --no-deps -d "$DEPS/dl" "aws-sam-cli==$SAM_CLI_VERSION"
    whl=("$DEPS"/dl/aws_sam_cli-"$SAM_CLI_VERSION"-*.whl)
  fi
  shopt -u nullglob
  ((${#whl[@]} > 0)) || die "aws-sam-cli $SAM_CLI_VERSION wheel not found in .deps/dl"
  tmp="$(mktemp -d "$DEPS/dl/rie.XXXXXX")"
  unzip -q -j -o "${whl[0]}" "samcli/local/rapid/aws-lambda-rie-$rie_arch" -d "$tmp"
  chmod +x "$tmp/aws-lambda-rie-$rie_arch"
  mv -f "$tmp/aws-lambda-rie-$rie_arch" "$RIE"
  rmdir "$tmp"
  printf '%s\n' "$SAM_CLI_VERSION $rie_arch" >"$RIE_STAMP"
fi

# --- 3. cargo-lambda (own venv: its wheel only ships the binary) ------------
CLVENV="$DEPS/cargo-lambda-venv"
CL="$DEPS/peers/cargo-lambda"
# The binary is a cargo subcommand: `cargo-lambda lambda --version` prints "cargo-lambda X.Y.Z (...)".
cl_version() { "$CLVENV/bin/cargo-lambda" lambda --version 2>/dev/null | awk '{print $2}'; }
if [[ -x "$CLVENV/bin/cargo-lambda" && "$(cl_version)" == "$CARGO_LAMBDA_VERSION" ]]; then
  say "cargo-lambda: ok ($CARGO_LAMBDA_VERSION)"
else
  say "cargo-lambda: installing cargo-lambda==$CARGO_LAMBDA_VERSION into .deps/cargo-lambda-venv"
  [[ -x "$CLVENV/bin/python" ]] || "$PYTHON" -m venv "$CLVENV"
  "$CLVENV/bin/python" -m pip install "${PIP_FLAGS[@]}" "cargo-lambda==$CARGO_LAMBDA_VERSION"
fi
if [[ "$(readlink "$CL" 2>/dev/null || true)" != "$CLVENV/bin/cargo-lambda" ]]; then
  ln -sfn "$CLVENV/bin/cargo-lambda" "$CL"
fi

# --- 4. Debian packages -----------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  say "apt: ok (${APT_PACKAGES[*]})"
else
  say "apt: installing ${missing[*]}"
  SUDO=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install: ${missing[*]}"
    SUDO=(sudo)
  fi
  log="$DEPS/apt.log"
  if ! { "${SUDO[@]}" apt-get update -qq &&
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    die "apt-get failed (log: $log)"
  fi
fi

# --- 5. versions ------------------------------------------------------------
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
[[ -n "$pg_bin" && -x "$pg_bin/postgres" ]] || die "postgresql server binaries not found under /usr/lib/postgresql/*/bin"
# The RIE has no version flag: any argument (even --version or -h) starts the emulator
# on :8080 and waits for a bootstrap, so never run it here; name the wheel it came from.
rie_sha="$(sha256sum "$RIE" | cut -c1-12)"
say "versions: python $("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')," \
  "$("$VENV/bin/python" -c 'from importlib.metadata import version as v; print(", ".join(f"{p} {v(p)}" for p in ("awslambdaric", "boto3", "awscli", "cfn-lint")))')"
say "versions: rie from aws-sam-cli $SAM_CLI_VERSION ($rie_arch, sha256 $rie_sha), $("$CL" lambda --version | awk '{print $1, $2}')," \
  "wrk $(dpkg-query -W -f='${Version}' wrk), postgres $("$pg_bin/postgres" --version | awk '{print $3}') ($pg_bin)," \
  "procps $(dpkg-query -W -f='${Version}' procps)"
