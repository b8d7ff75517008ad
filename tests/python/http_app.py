"""HTTP fixtures for awslambdaric (crates/cli/tests/it/http_front.rs).

- echo: a proxy response whose body is the event (JSON), with a header and a cookie;
- raw: the event itself (no statusCode: valid for payload 2.0, malformed for 1.0);
- slow: sleeps SLOW_APP_SECONDS (default 2), then answers like echo.
"""

import json
import os
import time


def echo(event, context):
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json", "x-echo": "1"},
        "cookies": ["echo=1; Path=/"],
        "body": json.dumps(event),
        "isBase64Encoded": False,
    } if event.get("version") == "2.0" else {
        "statusCode": 200,
        "headers": {"content-type": "application/json", "x-echo": "1"},
        "body": json.dumps(event),
        "isBase64Encoded": False,
    }


def raw(event, context):
    return event


def slow(event, context):
    time.sleep(float(os.environ.get("SLOW_APP_SECONDS", "2")))
    return echo(event, context)
