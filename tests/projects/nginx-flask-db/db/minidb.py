"""Stand-in for MariaDB (stdlib only): a line protocol on port 3306.

Commands, one per line, each answered with one line: ``AUTH <password>`` (``OK`` or
``ERR auth``; required first), ``PING`` (``PONG``), ``SET <key> <value>`` (``OK``),
``GET <key>`` (the value or an empty line), ``KEYS`` and ``VERSION``. The password comes from
``MYSQL_ROOT_PASSWORD_FILE`` (or ``MYSQL_ROOT_PASSWORD``); data is kept as JSON in
``/var/lib/mysql/<MYSQL_DATABASE>.json``. Command-line flags (``command:``) are accepted and
ignored, like mysqld options. Exits 0 on SIGTERM/SIGINT.
"""
# ruff: noqa: E402  (the early signal handler below must run before the slow imports)

from __future__ import annotations

import signal
import sys

# Before the slow imports: a SIGTERM during start-up exits at once (as PID 1, Python
# ignores SIGTERM until a handler is set; see README.md).
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

import json
import os
import socketserver
import threading
from types import FrameType

VERSION = os.environ.get("APP_VERSION") or "dev"
DATA = os.path.join("/var/lib/mysql", os.environ.get("MYSQL_DATABASE", "example") + ".json")
LOCK = threading.Lock()


def password() -> str:
    """The root password, from MYSQL_ROOT_PASSWORD_FILE or MYSQL_ROOT_PASSWORD."""
    path = os.environ.get("MYSQL_ROOT_PASSWORD_FILE")
    if not path:
        return os.environ.get("MYSQL_ROOT_PASSWORD", "")
    with open(path) as f:
        return f.read().strip()


def load() -> dict[str, str]:
    """Read the persisted data, if any."""
    try:
        with open(DATA) as f:
            data: dict[str, str] = json.load(f)
            return data
    except FileNotFoundError:
        return {}


PASSWORD = password()
STORE = load()


class Handler(socketserver.StreamRequestHandler):
    """One client connection: read commands until EOF."""

    timeout = 5  # an idle client delays shutdown by at most this

    def execute(self, line: str, authed: bool) -> tuple[str, bool]:
        """Run one command; return the reply and the new auth state."""
        cmd, *args = line.split(" ", 2)
        if cmd == "AUTH":
            ok = args[:1] == [PASSWORD]
            return ("OK" if ok else "ERR auth"), ok
        if not authed:
            return "ERR auth", False
        if cmd == "PING":
            return "PONG", True
        if cmd == "VERSION":
            return VERSION, True
        if cmd == "KEYS":
            return " ".join(sorted(STORE)), True
        if cmd == "GET" and len(args) == 1:
            return STORE.get(args[0], ""), True
        if cmd == "SET" and len(args) == 2:
            with LOCK:
                STORE[args[0]] = args[1]
                with open(DATA + ".tmp", "w") as f:
                    json.dump(STORE, f)
                os.replace(DATA + ".tmp", DATA)
            return "OK", True
        return "ERR syntax", True

    def handle(self) -> None:
        authed = False
        try:
            for raw in self.rfile:
                reply, authed = self.execute(raw.decode().strip(), authed)
                self.wfile.write((reply + "\n").encode())
        except (TimeoutError, ConnectionError):
            pass  # idle or vanished client


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True


def main() -> int:
    """Serve until SIGTERM/SIGINT."""
    os.makedirs(os.path.dirname(DATA), exist_ok=True)
    server = Server(("0.0.0.0", 3306), Handler)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"minidb {VERSION} listening on 3306 (ignoring options {sys.argv[1:]})", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()  # joins the (non-daemon) in-flight handler threads
    print("minidb stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
