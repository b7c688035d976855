"""Forward one request to an upstream server (installed as node_modules/devproxy.py).

Like the React dev server's ``proxy`` setting: the host name is resolved on every request.
"""

from __future__ import annotations

import urllib.error
import urllib.request

Headers = list[tuple[str, str]]
SKIP = {"connection", "keep-alive", "transfer-encoding", "server", "date", "content-length", "host"}


def forward(
    upstream: str, method: str, path: str, headers: Headers, body: bytes | None
) -> tuple[int, Headers, bytes]:
    """Send the request upstream; return its status, headers and body (502 if unreachable)."""
    req = urllib.request.Request(
        upstream.rstrip("/") + path,
        body,
        {k: v for k, v in headers if k.lower() not in SKIP},
        method=method,
    )
    try:
        try:
            resp = urllib.request.urlopen(req, timeout=10)
        except urllib.error.HTTPError as e:
            resp = e  # 4xx/5xx from upstream: still a response to pass on
        with resp:
            kept = [(k, v) for k, v in resp.headers.items() if k.lower() not in SKIP]
            return resp.status, kept, resp.read()
    except (OSError, ValueError) as e:
        return 502, [("Content-Type", "text/plain")], f"502 Bad Gateway: {e}\n".encode()
