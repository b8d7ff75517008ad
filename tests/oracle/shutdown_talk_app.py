"""Prints nothing while it handles invokes, and six flushed lines in its SIGTERM handler.

`grace check` must not call this buffered output: nothing was written during the invokes, so
nothing was held back (crates/cli/tests/it/check.rs). With SHUTDOWN_TALK_BUFFERED=1 it is the
negative control: each invoke writes a line naming its request id to a block-buffered file
object on stdout (awslambdaric makes `sys.stdout` unbuffered, so `print` alone would not do),
and the lines come out only when that buffer is flushed at exit.
"""

import os
import signal
import sys

BUFFERED = os.environ.get("SHUTDOWN_TALK_BUFFERED") == "1"
_held = open(1, "w", buffering=1 << 16, closefd=False) if BUFFERED else None


def _on_sigterm(signum, frame):
    for step in ("SIGTERM received", "draining", "flushing metrics", "closing files",
                 "closing sockets", "bye"):
        print(f"[talk] {step}", flush=True)
    if _held:
        _held.flush()  # what a buffered program's exit does
    sys.exit(0)


signal.signal(signal.SIGTERM, _on_sigterm)


def handler(event, context):
    if _held:
        _held.write(f"[talk] handled {context.aws_request_id}\n")
    return {"ok": True}
