"""A tiny SMTP server on 127.0.0.1 that records each message it accepts, and can hold one message
mid-DATA (no reply yet) so a test can kill the sender while it is sending. It can also behave
as a broken server: never greet (a host that takes the connection and says nothing), answer
each DATA late, refuse given recipients with a given reply, or hang up after a number of
messages in a session."""

from __future__ import annotations

import email
import email.policy
import socketserver
import threading


class SmtpSink:
    def __init__(self, hold_at: int | None = None, *, greet: bool = True,
                 data_delay: float = 0, refuse: dict[str, str] | None = None,
                 close_after: int | None = None):
        self.accepted: list[str] = []  # X-Leadcrm-Message of each message answered 250
        self.messages: list[email.message.EmailMessage] = []  # each message answered 250
        self.arrivals = 0
        self.sessions = 0  # SMTP connections the sender opened
        self.hold_at = hold_at  # the n-th message (1-based) to hold before answering
        self.holding = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 60

            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self) -> None:
                with sink._lock:
                    sink.sessions += 1
                if not greet:
                    sink.release.wait(timeout=60)
                    return
                self.reply("220 sink ESMTP")
                while line := self.rfile.readline(65536):
                    verb = line.decode("latin-1").strip().split(" ", 1)[0].upper()
                    if verb == "EHLO":
                        self.wfile.write(b"250-sink\r\n250 8BITMIME\r\n")
                    elif verb == "RCPT":  # RCPT TO:<address>: 250, or its refusal
                        address = line.decode("latin-1").split(":", 1)[-1].strip().strip("<>")
                        self.reply((refuse or {}).get(address.lower(), "250 OK"))
                    elif verb in ("HELO", "MAIL", "RSET", "NOOP"):
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 go ahead")
                        raw = self._read_data()
                        if data_delay and sink.release.wait(timeout=data_delay):
                            return  # the test ended first
                        if not sink._take(raw):
                            return  # held and dropped: the sender died mid-send
                        self.reply("250 OK queued")
                        taken = getattr(self, "taken", 0) + 1
                        self.taken = taken
                        if close_after and taken >= close_after:
                            return  # its messages-per-session limit: it hangs up
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not implemented")

            def _read_data(self) -> bytes:
                lines = []
                while (line := self.rfile.readline(1 << 20)) not in (b".\r\n", b".\n", b""):
                    lines.append(line[1:] if line.startswith(b"..") else line)
                return b"".join(lines)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _take(self, raw: bytes) -> bool:
        """Record a message; the held one waits for release() and is then dropped."""
        with self._lock:
            self.arrivals += 1
            held = self.arrivals == self.hold_at
        if held:
            self.holding.set()
            self.release.wait(timeout=60)
            return False
        message = email.message_from_bytes(raw, policy=email.policy.default)
        with self._lock:
            self.accepted.append(str(message.get("X-Leadcrm-Message", "")))
            self.messages.append(message)
        return True

    def __enter__(self) -> SmtpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
