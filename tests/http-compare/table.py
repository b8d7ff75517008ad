#!/usr/bin/env python3
"""Summarises what scripts/http-compare.sh recorded and prints the comparison table.

Usage: table.py OUT_DIR

OUT_DIR holds `setups` (one `ID<TAB>LABEL` line per setup, in column order), `rows` (one
`ID<TAB>LABEL` line per request), `body.bin` (the POSTed bytes), `checker.png` (the PNG the app
serves), and per setup a directory `ID/` with `ROW.head` (curl -D), `ROW.body` and `ROW.meta`
(`STATUS TIME_STARTTRANSFER TIME_TOTAL`).

Prints a Markdown table (one row per request, one column per setup; a cell that differs from
the first setup's is marked with `≠`) and writes OUT_DIR/results.json. Exits 1 when a cell
differs from the first setup's without being a documented difference (DIFFERENCES below), or
when a documented difference is gone (the explanation in docs/http.md would be stale); the
reason is printed on stderr. Standard library only.
"""

import hashlib
import json
import sys
from pathlib import Path

# Every cell that may differ from column `a` (http-axum, grace Function URL), with why; any
# other cell must equal `a`'s. docs/http.md, "Side by side", explains each at length.
STAGE_REST = "lambda_http puts the REST stage in front of `path` (its open issue #450)"
STAGE_HTTP = "lambda_http routes HTTP API requests with the stage API Gateway put in `rawPath` (#668)"
BUFFERED = "API routes answer buffered: the function's answer is read whole"
MULTI_V1 = "payload 1.0 has multiValueHeaders; 2.0 joins a repeated header with commas"
MULTI_LAMBDA_HTTP = "lambda_http's REST request keeps `headers` (the last value) over multiValueHeaders"
MULTI_CL = "cargo lambda watch's Function URL event keeps the first value of a repeated header"
SERVED = ("root", "hello", "query", "multi", "cookie", "setcookie", "post", "binary", "stream", "error")
DIFFERENCES = {
    ("b-http", "stream"): BUFFERED,
    ("b-rest", "stream"): BUFFERED,
    ("d-rest-ignore", "stream"): BUFFERED,
    ("b-rest", "multi"): MULTI_V1,
    ("d-rest-ignore", "multi"): MULTI_LAMBDA_HTTP,
    **{("d-http", r): STAGE_HTTP for r in SERVED},
    **{("d-rest", r): STAGE_REST for r in SERVED},
    ("e", "multi"): MULTI_CL,
}


def read_pairs(path):
    return [tuple(line.split("\t", 1)) for line in path.read_text().splitlines() if line]


def read_head(path):
    """The last header block curl wrote (after any 100 Continue), as name -> [values]."""
    text = path.read_text(errors="replace") if path.exists() else ""
    blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    headers = {}
    if not blocks:
        return headers
    for line in blocks[-1].split("\n")[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    return headers


def short_type(headers):
    ct = headers.get("content-type", ["-"])[0].split(";")[0].strip()
    return {
        "text/html": "html",
        "application/json": "json",
        "text/plain": "text",
        "image/png": "png",
        "application/octet-stream": "octet",
    }.get(ct, ct)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def values(vs):
    """`[1,2]` for a list of values, each value as is (so `[one,two]` is ONE value)."""
    return "".join(f"[{v}]" for v in vs)


def echo_summary(row, doc, posted):
    parts = []
    if doc.get("path") != "/echo":
        parts.append(f"path={doc.get('path')}")
    if row == "query":
        parts.append(" ".join(f"{k}={values(v)}" for k, v in sorted(doc["query"].items())) or "no query")
    elif row == "multi":
        parts.append("x-multi=" + values(doc["headers"].get("x-multi", [])))
    elif row == "cookie":
        cookies = " ".join(f"{k}={v}" for k, v in sorted(doc["cookies"].items()))
        parts.append(f"cookies {cookies or 'none'}, cookie hdr×{len(doc['headers'].get('cookie', []))}")
    elif row == "post":
        body = doc.get("body") or {}
        if "base64" in body:
            import base64

            got = base64.b64decode(body["base64"])
            parts.append("body =sent" if got == posted else f"body b64 sha {sha(got)[:8]}")
        elif "text" in body:
            parts.append(f"body text {len(body['text'])}c")
        else:
            parts.append("no body")
    return " ".join(parts)


def summarise(row, status, headers, body, timing, posted, png):
    kind = short_type(headers)
    cookies = len(headers.get("set-cookie", []))
    head = f"{status} {kind}"
    if cookies:
        head += f" set-cookie×{cookies}"
    if row == "stream" and status == 200:
        lines = body.decode(errors="replace").splitlines()
        start, total = timing
        how = "streamed" if total - start > 0.1 else "buffered"
        ok = lines == [f"chunk {n} of 5" for n in range(1, 6)]
        return f"{head} {len(lines)} chunks{'' if ok else ' (garbled)'}, {how}"
    if row == "binary" and status == 200:
        return f"{head} " + ("=checker.png" if body == png else f"sha {sha(body)[:8]}")
    if kind == "json" and status == 200 and row in ("query", "multi", "cookie", "post"):
        try:
            return f"{head} {echo_summary(row, json.loads(body), posted)}"
        except (ValueError, KeyError) as e:
            return f"{head} bad echo ({e})"
    if not body:
        return f"{head} empty"
    if kind == "html":
        return f"{head} #{sha(body)[:6]}"
    text = body.decode(errors="replace")
    if len(text) > 40:
        text = text[:37] + "…"
    if kind == "json":
        return f"{head} {text}"
    return f"{head} {json.dumps(text, ensure_ascii=False)}"


def main():
    out = Path(sys.argv[1])
    setups = read_pairs(out / "setups")
    rows = read_pairs(out / "rows")
    posted = (out / "body.bin").read_bytes()
    png = (out / "checker.png").read_bytes()
    cells = {}
    results = {}
    for setup, _ in setups:
        for row, _ in rows:
            base = out / setup / row
            meta = base.with_suffix(".meta")
            if not meta.exists():
                cells[setup, row] = "no answer"
                continue
            status, start, total = meta.read_text().split()
            headers = read_head(base.with_suffix(".head"))
            body = base.with_suffix(".body").read_bytes() if base.with_suffix(".body").exists() else b""
            cell = summarise(row, int(status), headers, body, (float(start), float(total)), posted, png)
            cells[setup, row] = cell
            results.setdefault(setup, {})[row] = {
                "status": int(status),
                "content_type": headers.get("content-type", [None])[0],
                "set_cookie": len(headers.get("set-cookie", [])),
                "body_sha256": sha(body),
                "body_bytes": len(body),
                "seconds_to_first_byte": float(start),
                "seconds_total": float(total),
                "cell": cell,
            }
    (out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))

    first = setups[0][0]
    print("| request | " + " | ".join(label for _, label in setups) + " |")
    print("|---" * (len(setups) + 1) + "|")
    failures = []
    for row, label in rows:
        line = [label]
        for setup, _ in setups:
            cell = cells[setup, row]
            differs = setup != first and cell != cells[first, row]
            documented = (setup, row) in DIFFERENCES
            if differs and not documented:
                failures.append(f"{row}: {setup} `{cell}` differs from {first} `{cells[first, row]}`")
            if documented and not differs:
                failures.append(
                    f"{row}: {setup} now agrees with {first} (`{cell}`), but the difference is "
                    f"documented ({DIFFERENCES[setup, row]})")
            line.append(("≠ " if differs else "") + cell.replace("|", "\\|"))
        print("| " + " | ".join(line) + " |")
    for f in failures:
        print(f"http-compare: DISAGREES: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
