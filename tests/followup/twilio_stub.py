"""A local stand-in for Twilio's Messages API: records what would have been texted.

Shape from Twilio's docs: POST /2010-04-01/Accounts/{sid}/Messages.json with form fields To,
From, Body; answers 201 with the message resource (sid, status "queued").
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class TwilioStub:
    def __init__(self) -> None:
        self.texts: list[dict[str, str]] = []
        self.fail = False
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if stub.fail:
                    body, status = {"code": 21610, "message": "Unsubscribed recipient",
                                    "status": 400}, 400
                else:
                    stub.texts.append({**form, "path": self.path})
                    body, status = {"sid": f"SM{len(stub.texts):032d}", "status": "queued",
                                    "to": form.get("To"), "from": form.get("From"),
                                    "body": form.get("Body")}, 201
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> TwilioStub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
