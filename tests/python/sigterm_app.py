"""Graceful-shutdown example for awslambdaric.

At import (init) it opens a file in append mode and registers a SIGTERM handler. Each
invoke appends a line with its request id to that file (buffered: nothing reaches the
disk until the file is flushed or closed). On SIGTERM the handler prints
"[python] SIGTERM received", closes the file (flushing the buffered lines), prints
"[python] cleanup done" and exits 0. Without SIGTERM (no extension registered, or
awslambdaric not polling /next in a thread) the buffered lines are lost.

SIGTERM_APP_FILE sets the file (default: /tmp/sigterm_app.out).

awslambdaric only lets a Python signal handler run while it waits for /next when
AWS_EXECUTION_ENV is one of AWS_Lambda_python3.12 .. 3.15 (it then polls in a thread).
"""

import os
import signal
import sys

OUT_PATH = os.environ.get("SIGTERM_APP_FILE", "/tmp/sigterm_app.out")
_out = open(OUT_PATH, "a", encoding="utf-8")


def _on_sigterm(signum, frame):
    print("[python] SIGTERM received", flush=True)
    _out.close()
    print("[python] cleanup done", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, _on_sigterm)


def handler(event, context):
    _out.write(f"invoke {context.aws_request_id}\n")
    return {"ok": True, "request_id": context.aws_request_id}
