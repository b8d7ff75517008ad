#!/usr/bin/env bash
# Installs what the test suite and the benchmarks need into the git-ignored
# folder .deps/ at the repository root (and a few Debian packages system-wide).
# Idempotent: a second run only checks and prints "ok" lines.
#
#   .deps/venv/                  Python venv: scripts/requirements-test.txt
#   .deps/cargo-lambda-venv/     Python venv holding the cargo-lambda wheel
#   .deps/peers/aws-lambda-rie   AWS Runtime Interface Emulator (from the aws-sam-cli wheel)
#   .deps/peers/cargo-lambda     symlink to the cargo-lambda binary
#   .deps/node/                  npm prefix: aws-lambda-ric (AWS's Node.js runtime interface
#                                client, for nodejs20.x/nodejs22.x functions), built with node-gyp
#   apt: wrk, postgresql, procps, chromium, nginx, and the build tools of aws-lambda-ric's
#        native addon: cmake, autoconf, automake, libtool (only when missing)
#
# Environment: PYTHON (default python3) picks the interpreter for both venvs. Node.js and npm
# are the machine's (/usr/bin/node); they are checked, not installed.
set -euo pipefail

SAM_CLI_VERSION=1.170.0
CARGO_LAMBDA_VERSION=1.9.2
# 3.3.0: the last release for Node.js 20 (4.x declares engines node >= 22).
NODE_RIC_VERSION=3.3.0
# aws-lambda-ric's preinstall builds curl (autotools) and aws-lambda-cpp (cmake) from sources it
# ships; g++, make and python3 (node-gyp) are already on the machine.
APT_PACKAGES=(wrk postgresql procps chromium nginx cmake autoconf automake libtool)

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
# Relative, so that the link holds wherever .deps is reached from (scripts/fresh-runs.sh links
# each clone's .deps to this one: an absolute link would point into a clone that is gone).
if [[ "$(readlink "$CL" 2>/dev/null || true)" != "../cargo-lambda-venv/bin/cargo-lambda" ]]; then
  ln -sfn "../cargo-lambda-venv/bin/cargo-lambda" "$CL"
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

# --- 5. Node.js runtime interface client ------------------------------------
# Installed from the npm registry into its own prefix; its install scripts compile a native addon
# (rapid-client.node), which is tied to the Node.js that built it: the stamp records both.
NODE_PREFIX="$DEPS/node"
NODE_RIC="$NODE_PREFIX/node_modules/aws-lambda-ric"
NODE_STAMP="$NODE_PREFIX/.aws-lambda-ric.stamp"
command -v node >/dev/null 2>&1 || die "node not found: Node.js functions need the machine's Node.js (20.x) and npm"
command -v npm >/dev/null 2>&1 || die "npm not found: it installs aws-lambda-ric from the npm registry"
node_want="$NODE_RIC_VERSION $(node --version)"
if [[ -f "$NODE_RIC/dist/rapid-client.node" && -f "$NODE_STAMP" && "$(cat "$NODE_STAMP")" == "$node_want" ]]; then
  say "node: ok (aws-lambda-ric $NODE_RIC_VERSION for node $(node --version) in .deps/node)"
else
  say "node: installing aws-lambda-ric@$NODE_RIC_VERSION into .deps/node (builds curl, aws-lambda-cpp and the addon: a few minutes)"
  mkdir -p "$NODE_PREFIX"
  rm -f "$NODE_STAMP"
  log="$DEPS/node-install.log"
  if ! npm install --prefix "$NODE_PREFIX" --no-audit --no-fund --no-save --loglevel=error \
    "aws-lambda-ric@$NODE_RIC_VERSION" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "npm install aws-lambda-ric@$NODE_RIC_VERSION failed (full log: $log). The tests of Node.js functions need it: check that the npm registry ($(npm config get registry)) is reachable and that cmake, autoconf, automake, libtool, g++ and make are installed"
  fi
  [[ -f "$NODE_RIC/dist/rapid-client.node" ]] || die "aws-lambda-ric installed without its native addon (dist/rapid-client.node); log: $log"
  # The addon reads AWS_LAMBDA_RUNTIME_API when it loads (and aborts without it); nothing is
  # called, so the address is never used.
  AWS_LAMBDA_RUNTIME_API=127.0.0.1:9 node -e 'require(process.argv[1])' "$NODE_RIC/dist/rapid-client.node" ||
    die "aws-lambda-ric's native addon does not load in node $(node --version)"
  printf '%s\n' "$node_want" >"$NODE_STAMP"
fi

# --- 6. versions ------------------------------------------------------------
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
say "versions: node $(node --version), npm $(npm --version)," \
  "aws-lambda-ric $(node -p 'require(process.argv[1]).version' "$NODE_RIC/package.json") (.deps/node)"
