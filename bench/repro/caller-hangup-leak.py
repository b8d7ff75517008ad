#!/usr/bin/env python3
"""Reproduces an environment leak in `grace serve` found by grace-bench (2026-11-21).

A caller that hangs up while its invoke waits for an environment (here: the only environment
is still finishing another invoke) can leave that environment reserved for ever: from then
on every invoke beyond the remaining environments gets 429
`ReservedFunctionConcurrentInvocationLimitExceeded`, and `grace serve` no longer stops on
SIGTERM ("finishing invocations in flight" waits for the lost one). In the benchmark it shows
when wrk ends its warm-up run with requests in flight at concurrency 4.

    grace serve --listen 127.0.0.1:20104 --name echo --no-freeze --concurrency 1 -- target/release/lr-echo &
    bench/repro/caller-hangup-leak.py 20104 1000

Prints "no leak in N iterations", or the iteration after which invokes stayed 429 for 2 s
(exit status 1). Seen here within 1 to 500 iterations (once not in 1,500: it is a race). It
also happens at once when the first caller hangs up during the cold start.
"""
import http.client
import socket
import sys
import time

PORT = int(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
PATH = "/2015-03-31/functions/echo/invocations"
BODY = b'{"hello":"world"}'
RAW = (
    b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n" % len(BODY)
) + BODY
RST_ON_CLOSE = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # struct linger {1, 0}


def invoke():
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
    c.request("POST", PATH, BODY, {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


print("warm-up", invoke()[0])
for i in range(N):
    a = socket.create_connection(("127.0.0.1", PORT))
    b = socket.create_connection(("127.0.0.1", PORT))
    a.sendall(RAW)
    b.sendall(RAW)
    delay = (i % 40) * 0.000025
    if delay:
        time.sleep(delay)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST_ON_CLOSE)
    b.close()  # the second caller hangs up while it waits
    a.settimeout(5)
    a.recv(4096)
    a.close()
    status = None
    for _ in range(20):
        status, data = invoke()
        if status == 200:
            break
        time.sleep(0.1)
    if status != 200:
        print(f"iteration {i} (hung up after {delay * 1e6:.0f} us): still {status} after 2 s: {data[:120]!r}")
        sys.exit(1)
print("no leak in", N, "iterations")
