"""Ground truth for `grace check`'s connection verdict: a real PostgreSQL server's log.

Runs each variant N times under `grace check --json` against one PostgreSQL server and compares,
run by run, the check's `tcp` verdict ("connections end with a goodbye") with what the server
logged for the run's sessions. A session ended cleanly when the server logged its
`disconnection: session time` and neither `unexpected EOF on client connection` nor
`could not receive data from client` for the same backend; a run is clean when every one of
its sessions is. Needs `log_disconnections=on` and `log_min_messages=debug1` (an EOF outside a
transaction is logged only at DEBUG1) and `log_line_prefix='%m [%p] %a '`.

Usage (scripts/pg-oracle.sh wraps it): see `python oracle.py --help`.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

# name -> (kind, settings). `example`: examples/postgres; `python`: pg_app.py under awslambdaric.
VARIANTS = {
    "rust-hook": ("example", {}),
    "rust-no-hook": ("example", {"POSTGRES_NO_HOOK": "1"}),
    "py-close": ("python", {"ORACLE_EXIT": "close"}),
    "py-sys-exit": ("python", {"ORACLE_EXIT": "sys_exit"}),
    "py-os-exit": ("python", {"ORACLE_EXIT": "os_exit"}),
    "py-default-action": ("python", {"ORACLE_EXIT": "default"}),
    "py-ignore": ("python", {"ORACLE_EXIT": "ignore"}),
    "py-no-layer": ("python", {"ORACLE_EXIT": "close", "layer": False}),
}

SESSION_NAMES = ("lambda-grace-example", "oracle-")
BACKEND = re.compile(r"^\S+ \S+ \S+ \[(\d+)\] (\S*) ")
ABRUPT = ("unexpected EOF on client connection", "could not receive data from client")


# --- the server -----------------------------------------------------------------------------

def pg_bin_dir():
    versions = sorted(p / "bin" for p in Path("/usr/lib/postgresql").iterdir()
                      if (p / "bin" / "initdb").exists())
    if not versions:
        sys.exit("PostgreSQL is not installed: run scripts/setup-test-deps.sh")
    return versions[-1]


def as_postgres(argv):
    """initdb refuses root: run PostgreSQL's programs as `postgres` when we are root."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class Server:
    """A fresh cluster on a free loopback port, configured as crates/cli/tests/it/pg.rs does."""

    def __init__(self):
        import socket

        self.dir = Path(tempfile.mkdtemp(prefix="pg-oracle-"))
        os.chmod(self.dir, 0o755)
        data, self.log = self.dir / "data", self.dir / "server.log"
        self.log.touch()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            shutil.chown(self.log, "postgres", "postgres")
        b = pg_bin_dir()
        subprocess.run(as_postgres([str(b / "initdb"), "-D", str(data), "-A", "trust", "-U",
                                    "postgres", "--no-sync", "-E", "UTF8"]),
                       check=True, capture_output=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(as_postgres([
            str(b / "postgres"), "-D", str(data), "-p", str(self.port), "-k", str(self.dir),
            "-c", "listen_addresses=127.0.0.1", "-c", "log_connections=on",
            "-c", "log_disconnections=on", "-c", "log_min_messages=debug1",
            "-c", "log_line_prefix=%m [%p] %a ", "-c", "fsync=off"]),
            stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        deadline = time.time() + 20
        while "ready to accept connections" not in self.log.read_text(errors="replace"):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"PostgreSQL did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    def stop(self):
        self.proc.send_signal(2)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- what the server saw ---------------------------------------------------------------------

def sessions(log_text):
    """Backend pid -> 'clean' | 'abrupt' | 'open', for the sessions of our functions that began
    in `log_text`. PostgreSQL logs an unexpected EOF before the session's disconnection line, so
    a session is over only at its disconnection line."""
    lines = {}
    for line in log_text.splitlines():
        m = BACKEND.match(line)
        if m:
            lines.setdefault(int(m.group(1)), []).append((m.group(2), line))
    out = {}
    for pid, ls in lines.items():
        if not any("connection authorized" in l for _, l in ls):
            continue  # began before this run
        if not any(app.startswith(SESSION_NAMES) for app, _ in ls):
            continue
        if not any("disconnection: session time" in l for _, l in ls):
            out[pid] = "open"
        elif any(a in l for _, l in ls for a in ABRUPT):
            out[pid] = "abrupt"
        else:
            out[pid] = "clean"
    return out


def server_verdict(log_path, offset, timeout=10.0):
    """Waits until every session of the run has ended in the log, then judges the run."""
    deadline = time.time() + timeout
    while True:
        with open(log_path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
        s = sessions(text)
        if s and "open" not in s.values():
            break
        if time.time() > deadline:
            break
        time.sleep(0.05)
    if not s:
        return "none", s
    if "open" in s.values():
        return "open", s
    return ("abrupt" if "abrupt" in s.values() else "clean"), s


# --- what grace check said -------------------------------------------------------------------

def layer_dir(grace):
    d = Path(tempfile.mkdtemp(prefix="oracle-layer-"))
    (d / "extensions").mkdir()
    shutil.copy(Path(grace).with_name("shutdown-enabler"), d / "extensions" / "shutdown-enabler")
    return d


def check_command(grace, variant, run, url, layer, python):
    kind, settings = VARIANTS[variant]
    env = {k: v for k, v in settings.items() if k != "layer"}
    args = [grace, "check", "--json", "--env", f"DATABASE_URL={url}"]
    if kind == "example":
        for k, v in env.items():
            args += ["--env", f"{k}={v}"]
        return args + ["--name", "postgres", "--", str(Path(grace).with_name("postgres"))]
    env["PGAPPNAME"] = f"oracle-{variant}-{run}"
    for k, v in env.items():
        args += ["--env", f"{k}={v}"]
    if settings.get("layer", True):
        args += ["--layer", str(layer)]
    return args + ["--name", "py", "--dir", str(HERE), "--execution-env", "AWS_Lambda_python3.12",
                   "--handler", "pg_app.handler", "--", python, "-m", "awslambdaric",
                   "pg_app.handler"]


def check_verdict(result):
    """The check's word on the connections: clean (tcp pass), abrupt (fail), warn, or none."""
    tcp = next((c for c in result.get("checks", []) if c["id"] == "tcp"), None)
    if tcp is None:
        return "none", None
    return {"pass": "clean", "fail": "abrupt"}.get(tcp["status"], tcp["status"]), tcp


def kind_of(check, server):
    if check == server:
        return "agree"
    if check == "clean" and server == "abrupt":
        return "check passed, server saw an abrupt end"
    if check == "abrupt" and server == "clean":
        return "check failed, server saw a clean end"
    return f"check {check}, server {server}"


def run_once(grace, variant, run, server_log, url, layer, python):
    offset = os.path.getsize(server_log)
    cmd = check_command(grace, variant, run, url, layer, python)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    try:
        result = json.loads(out.stdout)
    except json.JSONDecodeError:
        result = {"error": out.stdout[-2000:] + out.stderr[-2000:]}
    check, tcp = check_verdict(result)
    server, per_session = server_verdict(server_log, offset)
    return {
        "variant": variant,
        "run": run,
        "check": check,
        "check_pass": result.get("pass"),
        "tcp": tcp,
        "server": server,
        "sessions": {str(k): v for k, v in per_session.items()},
        "kind": kind_of(check, server),
        "agree": check == server,
    }


def table(rows, n):
    by = {}
    for r in rows:
        by.setdefault(r["variant"], []).append(r)
    out = [f"{'variant':<18} {'N':>3} {'agree':>5}  server (clean/abrupt)  check (clean/abrupt/warn/none)"
           "  overall pass while server abrupt  disagreements"]
    for v, rs in by.items():
        srv, chk = Counter(r["server"] for r in rs), Counter(r["check"] for r in rs)
        hidden = sum(1 for r in rs if r["check_pass"] and r["server"] == "abrupt")
        kinds = Counter(r["kind"] for r in rs if not r["agree"])
        out.append(f"{v:<18} {len(rs):>3} {sum(r['agree'] for r in rs):>5}  "
                   f"{srv['clean']:>5}/{srv['abrupt']:<16}"
                   f"{chk['clean']:>5}/{chk['abrupt']}/{chk['warn']}/{chk['none']:<24}"
                   f"{hidden:>3}                               "
                   + ("; ".join(f"{c}× {k}" for k, c in kinds.items()) or "-"))
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", type=int, default=int(os.environ.get("N", "50")), help="runs per variant (default $N or 50)")
    p.add_argument("--variant", action="append", choices=sorted(VARIANTS), help="only these (repeatable)")
    p.add_argument("--grace", default=str(ROOT / "target/debug/grace"))
    p.add_argument("--python", default=str(ROOT / ".deps/venv/bin/python"))
    p.add_argument("--port", type=int, help="use this running server (with --log) instead of starting one")
    p.add_argument("--log", help="that server's log file")
    p.add_argument("--json", action="store_true", help="print one JSON object per run instead of the table")
    p.add_argument("--table", metavar="RUNS.jsonl", help="only print the table of runs saved with --json")
    a = p.parse_args()
    if a.table:
        rows = [json.loads(l) for l in open(a.table) if l.strip()]
        print(table(rows, a.n))
        return 0
    variants = a.variant or list(VARIANTS)
    server = None
    if a.port:
        port, log = a.port, a.log
    else:
        server = Server()
        port, log = server.port, str(server.log)
    url = f"postgres://postgres@127.0.0.1:{port}/postgres"
    layer = layer_dir(a.grace)
    rows = []
    try:
        for i in range(a.n):
            for v in variants:
                r = run_once(a.grace, v, i, log, url, layer, a.python)
                rows.append(r)
                if a.json:
                    print(json.dumps(r), flush=True)
                else:
                    print(f"[pg-oracle] {v} #{i}: check {r['check']}, server {r['server']}"
                          f"{'' if r['agree'] else '  <- DISAGREE'}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(layer, ignore_errors=True)
        if server:
            server.stop()
    if not a.json:
        print(table(rows, a.n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
