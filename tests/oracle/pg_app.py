"""A psycopg2 function for the ground-truth harness (scripts/pg-oracle.sh), run by awslambdaric.

At import (init) it opens one PostgreSQL connection (DATABASE_URL; PGAPPNAME names the session
in the server's log). Each invoke runs `select 1` on it. ORACLE_EXIT picks how the process
leaves when SIGTERM comes (the harness runs `close` once more without the shutdown-enabler
layer, so that no SIGTERM comes at all):

| ORACLE_EXIT | at SIGTERM | what the server should see |
|---|---|---|
| `close` | `conn.close()` (the protocol's Terminate), then `sys.exit(0)` | a clean end |
| `sys_exit` | `sys.exit(0)` without closing: interpreter teardown ends the session | what teardown does |
| `os_exit` | `os._exit(0)` without closing: the kernel closes the socket | an unexpected EOF |
| `default` | no handler: SIGTERM's default action kills the process | an unexpected EOF |
| `ignore` | SIGTERM ignored: SIGKILLed when the runtime's budget runs out | an unexpected EOF |

awslambdaric runs a Python signal handler only when AWS_EXECUTION_ENV is AWS_Lambda_python3.12
or later (it then polls /next in a thread); the harness sets it.
"""

import os
import signal
import sys

import psycopg2

MODE = os.environ.get("ORACLE_EXIT", "close")
_conn = psycopg2.connect(os.environ["DATABASE_URL"])
_conn.autocommit = True


def _close_then_exit(signum, frame):
    _conn.close()
    print("[oracle] SIGTERM: connection closed", flush=True)
    sys.exit(0)


def _sys_exit(signum, frame):
    print("[oracle] SIGTERM: sys.exit without close", flush=True)
    sys.exit(0)


def _os_exit(signum, frame):
    print("[oracle] SIGTERM: os._exit without close", flush=True)
    os._exit(0)


if MODE == "close":
    signal.signal(signal.SIGTERM, _close_then_exit)
elif MODE == "sys_exit":
    signal.signal(signal.SIGTERM, _sys_exit)
elif MODE == "os_exit":
    signal.signal(signal.SIGTERM, _os_exit)
elif MODE == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
elif MODE == "default":
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
else:
    raise ValueError(f"ORACLE_EXIT={MODE!r}: expected close, sys_exit, os_exit, default or ignore")


def handler(event, context):
    with _conn.cursor() as cur:
        cur.execute("select 1")
        (one,) = cur.fetchone()
    return {"ok": one == 1}
