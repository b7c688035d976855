"""Server life-cycle shared by the demo lab's programs (stdlib only, Python 3.11+).

Each demo image copies this file next to its program (agent, collector or gateway) in
``/app``; the programs build on it:

- :class:`Lifecycle`: the lifecycle log lines (``<UTC time> <service>/<version> <hostname>
  <event> key=value ...`` on stdout), SIGTERM/SIGINT handling and the serve-then-drain run:
  on a signal the program stops accepting (its listening socket is closed, so new connects
  are refused), finishes the requests in flight (at most ``drain_timeout`` seconds) and
  returns 0.
- :class:`DrainingHTTPServer`: the threading HTTP server that can drain.
- :class:`JSONHandler`: a request handler base with JSON replies that close the connection and
  no access log.

The healthchecks stay inline in compose.yaml: importing this module would make every probe
(one per second per container) slower.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, ClassVar

HOSTNAME = socket.gethostname()


class DrainingHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that drains: stop accepting, finish in-flight, then return."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._busy = 0
        self._idle = threading.Condition()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Count the connection as in flight, then hand it to a thread."""
        with self._idle:
            self._busy += 1
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Serve one connection in its thread and mark it finished."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def drain(self, timeout: float) -> int:
        """Close the listening socket, wait for in-flight requests; return how many remain.

        Call after ``serve_forever`` has returned. Connections the kernel already accepted
        are served; from the moment the socket is closed, new connects are refused.
        """
        self.socket.setblocking(False)
        while True:
            try:
                connection, address = self.socket.accept()
            except OSError:
                break
            self.process_request(connection, address)
        self.server_close()
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy and (left := deadline - time.monotonic()) > 0:
                self._idle.wait(left)
            return self._busy


class JSONHandler(BaseHTTPRequestHandler):
    """Base request handler: replies that close the connection, no access log.

    ``reply_headers`` are added to every reply (after Content-Length, before Connection).
    """

    reply_headers: ClassVar[Mapping[str, str]] = {}

    def send_json(self, status: int, payload: dict[str, Any]) -> None:
        """Send a JSON response that closes the connection."""
        self.send_body(status, json.dumps(payload).encode())

    def send_body(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send a response that closes the connection, with extra ``headers`` if given."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**self.reply_headers, **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep stdout for lifecycle events: no access log."""


class Lifecycle:
    """One program's life: lifecycle log lines, signals, serving and draining."""

    def __init__(self, service: str, version: str) -> None:
        self.service = service
        self.version = version
        self.stopping = threading.Event()
        self._received: list[str] = []
        self._server: DrainingHTTPServer | None = None

    def log(self, event: str, **fields: object) -> None:
        """Print one lifecycle line to stdout and flush it."""
        details = "".join(f" {key}={value}" for key, value in fields.items())
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        print(f"{stamp} {self.service}/{self.version} {HOSTNAME} {event}{details}", flush=True)

    @property
    def signals(self) -> str:
        """The names of the signals received so far, comma-separated ("" before any)."""
        return ",".join(self._received)

    def handle_signals(self) -> None:
        """On SIGTERM/SIGINT: set ``stopping`` and stop the server's ``serve_forever``."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # Keep the handler tiny (no printing here): flag, then stop serve_forever elsewhere.
        self._received.append(signal.Signals(signum).name)
        self.stopping.set()
        running = self._server
        if running is not None:
            threading.Thread(target=running.shutdown, daemon=True).start()

    def serve(
        self,
        port: int,
        handler: type[BaseHTTPRequestHandler],
        drain_timeout: float,
        background: Callable[[], None] | None = None,
    ) -> int:
        """Listen on ``port``, serve until a signal, drain, return 0.

        ``background``, if given, runs in a daemon thread from the moment the port is bound.
        """
        server = DrainingHTTPServer(("0.0.0.0", port), handler)
        self._server = server
        if background is not None:
            threading.Thread(target=background, name=background.__name__, daemon=True).start()
        self.log("listening", port=port)
        if not self.stopping.is_set():
            # shutdown() is seen at the next poll: 20 ms keeps SIGTERM -> not accepting short
            server.serve_forever(poll_interval=0.02)
        self.log("draining", signal=self.signals or "-", timeout_s=drain_timeout)
        unfinished = server.drain(drain_timeout)
        self.log("stopped", unfinished=unfinished)
        return 0
