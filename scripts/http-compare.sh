#!/usr/bin/env bash
# The same axum app (examples/http-axum) on lambda-grace-http and on the official lambda_http,
# behind grace's Function URLs, grace's API routes (HTTP API and REST, stage `dev`) and
# `cargo lambda watch`: one fixed table of curl requests, one column per setup. Prints a
# Markdown table (docs/http.md, "Side by side") and exits 1 when a cell differs from the first
# column without being a documented difference (tests/http-compare/table.py).
#
#   scripts/http-compare.sh            # builds grace and the example (debug) first
#
# Environment:
#   HTTP_COMPARE_BIN_DIR=DIR   take grace, http-axum and http-lambda-http from DIR; no build
#   HTTP_COMPARE_OUT=DIR       keep the recorded answers there (default: a temporary directory)
#   HTTP_COMPARE_CARGO_LAMBDA=PATH|none   cargo-lambda (default .deps/peers/cargo-lambda when
#                              it exists); `none`, or missing, leaves out the cargo lambda column
#   PYTHON                     the interpreter for the table (default python3)
#
# Setups (columns):
#   a              http-axum (lambda-grace-http), grace serve, Function URL
#   b-http         http-axum, grace serve --api, HTTP API (payload 2.0), stage dev
#   b-rest         http-axum, grace serve --api, REST API (payload 1.0), stage dev
#   c              http-lambda-http (lambda_http), grace serve, Function URL
#   d-http, d-rest http-lambda-http, grace serve --api, as b
#   d-rest-ignore  as d-rest, with lambda_http's AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true
#   e              http-lambda-http under cargo lambda watch, its /lambda-url/NAME/ convention
# In a, c and e, GET /stream goes to a second function of the same binary with
# HTTP_AXUM_STREAMING=1 (under grace, its URL streams: --response-stream).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"

if [[ -n "${HTTP_COMPARE_BIN_DIR:-}" ]]; then
  BIN="$(cd "$HTTP_COMPARE_BIN_DIR" && pwd)"
else
  (cd "$ROOT" && cargo build --locked -q -p grace -p example-http-axum)
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
fi
for b in grace http-axum http-lambda-http; do
  [[ -x "$BIN/$b" ]] || { echo "http-compare: $BIN/$b is missing" >&2; exit 2; }
done

CL="${HTTP_COMPARE_CARGO_LAMBDA:-$ROOT/.deps/peers/cargo-lambda}"
[[ "$CL" == none || -x "$CL" ]] || CL=none

if [[ -n "${HTTP_COMPARE_OUT:-}" ]]; then
  OUT="$HTTP_COMPARE_OUT"
  rm -rf "$OUT"
  mkdir -p "$OUT"
else
  OUT="$(mktemp -d "${TMPDIR:-/tmp}/http-compare.XXXXXX")"
  trap 'rm -rf "$OUT"' EXIT
fi

# --- processes this script starts, stopped on exit -------------------------------------------
PIDS=()
stop_all() {
  local p
  for p in "${PIDS[@]}"; do
    # The process group: grace and its environments, or cargo lambda and the function.
    kill -TERM -- "-$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  PIDS=()
}
trap 'stop_all; [[ -n "${HTTP_COMPARE_OUT:-}" ]] || rm -rf "$OUT"' EXIT

# Polls (every 50 ms, up to 30 s) until FILE has a line matching REGEX, while PID lives;
# prints the match.
wait_for() {
  local file="$1" regex="$2" pid="$3" i
  for ((i = 0; i < 600; i++)); do
    if grep -Eo "$regex" "$file" 2>/dev/null | head -n1 | grep .; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "http-compare: no /$regex/ in $file:" >&2
  cat "$file" >&2
  return 1
}

# --- the function directories: bootstrap = the binary, or the binary in streaming mode -------
for b in http-axum http-lambda-http; do
  mkdir -p "$OUT/code/$b" "$OUT/code/$b-stream"
  ln -sf "$BIN/$b" "$OUT/code/$b/bootstrap"
  printf '#!/bin/sh\nHTTP_AXUM_STREAMING=1 exec %q "$@"\n' "$BIN/$b" >"$OUT/code/$b-stream/bootstrap"
  chmod +x "$OUT/code/$b-stream/bootstrap"
done
printf '\x00\xff\xfe\x80 not UTF-8 \xc3\x28\x01' >"$OUT/body.bin"
cp "$ROOT/examples/http-axum/src/checker.png" "$OUT/checker.png"

# --- the requests: an array per row, PATH then curl arguments ---------------------------------
req_root=(/)
req_hello=(/hello/ann)
req_query=("/echo?a=1&a=2&b=x")
req_multi=(/echo -H "x-multi: one" -H "x-multi: two")
req_cookie=(/echo -H "Cookie: a=1; b=2")
req_setcookie=(/cookies)
req_post=(/echo -X POST -H "content-type: application/octet-stream" --data-binary "@$OUT/body.bin")
req_binary=(/binary)
req_stream=(/stream)
req_error=(/error)
req_stage=(/dev/hello/ann)
req_missing=(/no/such/route)
cat >"$OUT/rows" <<'EOF'
root	GET /
hello	GET /hello/ann
query	GET /echo?a=1&a=2&b=x
multi	GET /echo, x-multi: one + x-multi: two
cookie	GET /echo, Cookie: a=1; b=2
setcookie	GET /cookies
post	POST /echo, non-UTF-8 octet-stream
binary	GET /binary (PNG)
stream	GET /stream
error	GET /error
stage	GET /dev/hello/ann (stage in the URL)
missing	GET /no/such/route
EOF
: >"$OUT/setups"

# run_rows SETUP BASE [STREAM_BASE]: every request against BASE (the /stream one against
# STREAM_BASE when given), recorded under $OUT/SETUP/.
run_rows() {
  local setup="$1" base="$2" stream_base="${3:-$2}" row
  mkdir -p "$OUT/$setup"
  while IFS=$'\t' read -r row _; do
    local -n spec="req_$row"
    local url="$base${spec[0]}"
    [[ "$row" == stream ]] && url="$stream_base${spec[0]}"
    curl -sS --max-time 20 -o "$OUT/$setup/$row.body" -D "$OUT/$setup/$row.head" \
      -w '%{http_code} %{time_starttransfer} %{time_total}\n' "${spec[@]:1}" "$url" \
      >"$OUT/$setup/$row.meta" || rm -f "$OUT/$setup/$row.meta"
    unset -n spec
  done <"$OUT/rows"
}

# start_grace TAG ARGS…: grace serve in a process group of its own; sets LISTEN (and API).
start_grace() {
  local tag="$1"
  shift
  local log="$OUT/$tag.grace.log"
  setsid "$BIN/grace" serve --no-resource-model --listen 127.0.0.1:0 "$@" >"$OUT/$tag.grace.out" 2>"$log" &
  PIDS+=("$!")
  LISTEN="$(wait_for "$log" 'listening on http://[0-9.:]+' "$!" | sed 's|.*http://||')"
  API="$(grep -Eo 'API on http://[0-9.:]+' "$log" | head -n1 | sed 's|.*http://||' || true)"
}

# Function URLs: the app as `app`, its streaming twin as `app-stream`.
function_url() {
  local setup="$1" bin="$2" label="$3"
  start_grace "$setup" --function "app=$OUT/code/$bin" --function "app-stream=$OUT/code/$bin-stream" \
    --response-stream app-stream
  run_rows "$setup" "http://$LISTEN/lambda-url/app" "http://$LISTEN/lambda-url/app-stream"
  stop_all
  printf '%s\t%s\n' "$setup" "$label" >>"$OUT/setups"
}

# API routes: TEMPLATE with Code=the binary's directory.
api_routes() {
  local setup="$1" bin="$2" template="$3" label="$4"
  shift 4
  start_grace "$setup" --template "$ROOT/tests/http-compare/$template" \
    --parameter "Code=$OUT/code/$bin" --api 127.0.0.1:0 "$@"
  [[ -n "$API" ]] || { echo "http-compare: no API address in $OUT/$setup.grace.log" >&2; exit 2; }
  run_rows "$setup" "http://$API"
  stop_all
  printf '%s\t%s\n' "$setup" "$label" >>"$OUT/setups"
}

function_url a http-axum "a: lambda-grace-http, Function URL"
api_routes b-http http-axum http-api.yaml "b: lambda-grace-http, HTTP API dev"
api_routes b-rest http-axum rest-api.yaml "b: lambda-grace-http, REST dev"
function_url c http-lambda-http "c: lambda_http, Function URL"
api_routes d-http http-lambda-http http-api.yaml "d: lambda_http, HTTP API dev"
api_routes d-rest http-lambda-http rest-api.yaml "d: lambda_http, REST dev"
api_routes d-rest-ignore http-lambda-http rest-api.yaml "d: lambda_http, REST dev, IGNORE_STAGE" \
  --env AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true

# cargo lambda watch: its Runtime API without starting the function (--only-lambda-apis, run
# in the example's Cargo project as it requires), and the prebuilt binary started against it;
# a second one with the streaming twin for GET /stream (one function per `watch` this way).
# cargo_lambda CODE_DIR: prints the base URL of its Function URL.
cargo_lambda() {
  local code="$1" port log i
  port="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  log="$OUT/e.$(basename "$code").log"
  (cd "$ROOT/examples/http-axum" && exec setsid "$CL" lambda watch --only-lambda-apis \
    --ignore-changes -A 127.0.0.1 -P "$port" >"$log" 2>&1) &
  PIDS+=("$!")
  for ((i = 0; i < 600; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$!" 2>/dev/null || { cat "$log" >&2; exit 2; }
    sleep 0.05
  done
  AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$port/.rt" AWS_LAMBDA_FUNCTION_NAME=_ \
    AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 \
    setsid "$code/bootstrap" >>"$log" 2>&1 &
  PIDS+=("$!")
  BASE="http://127.0.0.1:$port/lambda-url/_"
}
if [[ "$CL" != none ]]; then
  cargo_lambda "$OUT/code/http-lambda-http"
  base="$BASE"
  cargo_lambda "$OUT/code/http-lambda-http-stream"
  run_rows e "$base" "$BASE"
  stop_all
  printf '%s\t%s\n' e "e: lambda_http, cargo lambda watch" >>"$OUT/setups"
fi

"$PYTHON" "$ROOT/tests/http-compare/table.py" "$OUT"
