"""A real HTTP server on 127.0.0.1 that serves Claude's usage shape, for the source and pacing tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

RESETS = "2026-01-05T13:00:00+00:00"
WEEK_RESETS = "2026-01-09T10:00:00+00:00"
CLAUDE_BODY = {"five_hour": {"utilization": 62.0, "resets_at": RESETS},
               "seven_day": {"utilization": 35.0, "resets_at": WEEK_RESETS},
               "seven_day_opus": None}


class UsageServer:
    """A real HTTP server on 127.0.0.1. `mode`: ok (serve `body` as JSON), slow (the same after `delay` s),
    error (HTTP 500), malformed (not JSON), redirect (302 elsewhere), throttled (`status`, 429 or 503, with the
    `Retry-After` header `retry_after` unless it is None). `requests` holds each request's headers."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.body: object = CLAUDE_BODY
        self.delay = 3.0
        self.status = 429
        self.retry_after: str | None = "120"
        self.requests: list[dict[str, str]] = []
        state = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                state.requests.append({key.lower(): value for key, value in self.headers.items()})
                if state.mode == "slow":
                    time.sleep(state.delay)
                if state.mode == "error":
                    self.send_error(500, "Internal Server Error")
                    return
                if state.mode == "throttled":
                    self.send_response(state.status)
                    if state.retry_after is not None:
                        self.send_header("Retry-After", state.retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if state.mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", "http://example.invalid/usage")
                    self.end_headers()
                    return
                payload = b"<html>maintenance</html>" if state.mode == "malformed" else json.dumps(state.body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except OSError:  # the client gave up (a slow response after its timeout)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/oauth/usage"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[UsageServer]:
    """A fresh server per test (import this fixture into the test module)."""
    usage_server = UsageServer()
    yield usage_server
    usage_server.close()


def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/oauth/usage"
