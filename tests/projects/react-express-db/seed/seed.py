"""One-shot seeding tool: POST each argument as a todo to ``$BACKEND_URL/api/todos``.

Waits up to ``SEED_TIMEOUT`` seconds (default 30) for ``$BACKEND_URL/health``, then exits 0
when every todo was created, 1 otherwise. Usage: ``seed.py TEXT...``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request

BACKEND_URL = os.environ.get("BACKEND_URL", "http://backend:3000").rstrip("/")
VERSION = os.environ.get("APP_VERSION") or "dev"


def wait_for_backend(timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{BACKEND_URL}/health", timeout=2):
                return True
        except OSError:
            time.sleep(0.5)
    return False


def main(texts: list[str]) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if not wait_for_backend(float(os.environ.get("SEED_TIMEOUT", "30"))):
        print(f"seed {VERSION}: backend {BACKEND_URL} not ready", file=sys.stderr)
        return 1
    for text in texts or ["First todo"]:
        req = urllib.request.Request(
            f"{BACKEND_URL}/api/todos",
            json.dumps({"text": text}).encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            print(f"seed {VERSION}: created {json.load(r)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
