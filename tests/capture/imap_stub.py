"""A small IMAP4rev1 server on 127.0.0.1 for tests: LOGIN, SELECT, UID SEARCH/FETCH/STORE."""

from __future__ import annotations

import re
import socketserver
import threading
from dataclasses import dataclass, field


@dataclass
class StoredMessage:
    uid: int
    raw: bytes
    seen: bool = False


@dataclass
class Mailbox:
    user: str = "sales@example.com"
    password: str = "secret"
    folder: str = "INBOX"
    messages: list[StoredMessage] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    def add(self, raw: bytes) -> StoredMessage:
        message = StoredMessage(uid=len(self.messages) + 1, raw=raw)
        self.messages.append(message)
        return message


class _Handler(socketserver.StreamRequestHandler):
    mailbox: Mailbox

    def send(self, line: str | bytes) -> None:
        self.wfile.write((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def handle(self) -> None:
        box = self.server.mailbox
        self.send("* OK [CAPABILITY IMAP4rev1] leadcrm test IMAP ready")
        while line := self.rfile.readline():
            tag, _, rest = line.decode().rstrip("\r\n").partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            box.commands.append(f"{command} {args}".strip())
            if command == "CAPABILITY":
                self.send("* CAPABILITY IMAP4rev1")
                self.send(f"{tag} OK CAPABILITY completed")
            elif command == "LOGIN":
                user, password = [a.strip('"') for a in args.split(" ", 1)]
                ok = (user, password) == (box.user, box.password)
                self.send(f"{tag} {'OK' if ok else 'NO'} LOGIN")
            elif command == "SELECT":
                if args.strip('"') != box.folder:
                    self.send(f"{tag} NO no such folder")
                    continue
                self.send(f"* {len(box.messages)} EXISTS")
                self.send("* FLAGS (\\Seen)")
                self.send(f"{tag} OK [READ-WRITE] SELECT completed")
            elif command == "UID":
                self.uid(tag, args, box)
            elif command == "LOGOUT":
                self.send("* BYE logging out")
                self.send(f"{tag} OK LOGOUT completed")
                return
            else:
                self.send(f"{tag} BAD unknown command")

    def uid(self, tag: str, args: str, box: Mailbox) -> None:
        sub, _, rest = args.partition(" ")
        sub = sub.upper()
        if sub == "SEARCH":
            uids = " ".join(str(m.uid) for m in box.messages if not m.seen)
            self.send(f"* SEARCH {uids}".rstrip())
            self.send(f"{tag} OK SEARCH completed")
        elif sub == "FETCH":
            uid = int(rest.split(" ", 1)[0])
            message = next(m for m in box.messages if m.uid == uid)
            # BODY.PEEK[] must not set \Seen: the client marks it once it has stored it.
            self.wfile.write(f"* {uid} FETCH (UID {uid} BODY[] {{{len(message.raw)}}}\r\n"
                             .encode() + message.raw + b")\r\n")
            self.send(f"{tag} OK FETCH completed")
        elif sub == "STORE":
            uid = int(rest.split(" ", 1)[0])
            if re.search(r"\+FLAGS.*\\Seen", rest):
                next(m for m in box.messages if m.uid == uid).seen = True
            self.send(f"* {uid} FETCH (UID {uid} FLAGS (\\Seen))")
            self.send(f"{tag} OK STORE completed")
        else:
            self.send(f"{tag} BAD unknown UID command")


class ImapStub:
    def __init__(self, mailbox: Mailbox):
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.mailbox = mailbox
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
