"""A local stand-in for a provider's HTTP API on 127.0.0.1: records every request and answers
with what the test queued (else a default), so tests see exactly what the product sent."""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes

    @property
    def json(self):
        return json.loads(self.body or b"null")


def _bind(handler) -> ThreadingHTTPServer:
    """A free port: from LEADCRM_STUB_PORTS ("18300-18399") when set (engineers sharing a
    machine keep to their range), else any the system gives."""
    span = os.environ.get("LEADCRM_STUB_PORTS", "")
    if span:
        first, _, last = span.partition("-")
        for port in range(int(first), int(last or first) + 1):
            try:
                return ThreadingHTTPServer(("127.0.0.1", port), handler)
            except OSError:
                continue
    return ThreadingHTTPServer(("127.0.0.1", 0), handler)


class StubAPI:
    def __init__(self, default=(200, {"ok": True})):
        self.requests: list[Seen] = []
        self.answers: deque = deque()
        self.default = default
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                stub.requests.append(Seen(self.command, parts.path, parse_qs(parts.query),
                                          dict(self.headers), self.rfile.read(length)))
                status, payload = stub.answers.popleft() if stub.answers else stub.default
                if callable(payload):
                    payload = payload(stub.requests[-1])
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = _bind(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, status: int, payload) -> None:
        """Queue the next answer (a dict, or a function of the request giving one)."""
        self.answers.append((status, payload))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
