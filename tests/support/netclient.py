"""A client on a compose project's network: GET http://NAME:PORT/PATH at a fixed rate,
resolving NAME for every request (Docker's embedded DNS), one new connection each time,
no retries, for SECONDS or until SIGTERM. At the end it prints one JSON line: ok per
version, failures by reason, and the first failures in detail (when, to which address, in
which phase, after how long) so that a failed test says what happened.

    python3 netclient.py NAME PORT RPS SECONDS [PATH]

Stdlib only: it runs on the lab's base image (`docker run -v ...:/netclient.py:ro`).
"""

from __future__ import annotations

import http.client
import json
import queue
import signal
import socket
import sys
import threading
import time
from collections import Counter

TIMEOUT = 5.0
WORKERS = 16
DETAILED = 20


def version_in(body: bytes) -> str:
    """The `version` field of a JSON answer, else `unknown`."""
    try:
        found = json.loads(body).get("version")
    except (ValueError, AttributeError):
        return "unknown"
    return str(found) if found else "unknown"


def main(argv: list[str]) -> int:
    name, port, rps, seconds = argv[0], int(argv[1]), float(argv[2]), float(argv[3])
    path = argv[4] if len(argv) > 4 else "/"
    results: Counter[str] = Counter()
    details: list[dict[str, object]] = []
    lock = threading.Lock()
    jobs: queue.Queue[float | None] = queue.Queue()

    def one(due: float) -> str:
        try:
            address = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)[0][4][0]
        except OSError as error:
            return f"fail:resolve:{type(error).__name__}"
        assert isinstance(address, str)  # an IPv4/IPv6 sockaddr starts with the address
        connection = http.client.HTTPConnection(address, port, timeout=TIMEOUT)
        phase = "connect"
        try:
            connection.connect()
            phase = "answer"
            connection.request("GET", path, headers={"Connection": "close"})
            answer = connection.getresponse()
            body = answer.read()
        except (OSError, http.client.HTTPException) as error:
            failure = f"fail:{type(error).__name__}"
            detail(due, address, phase, failure)
            return failure
        finally:
            connection.close()
        if answer.status >= 500:
            detail(due, address, phase, f"fail:http-{answer.status}")
            return f"fail:http-{answer.status}"
        return "ok:" + (answer.getheader("X-Agent-Version") or version_in(body))

    def detail(due: float, address: str, phase: str, failure: str) -> None:
        took = time.monotonic() - due
        with lock:
            if len(details) < DETAILED:
                details.append({
                    "at": round(due - start, 3), "wall": round(time.time() - took, 3),
                    "address": address, "phase": phase, "reason": failure[5:],
                    "took": round(took, 3),
                })  # fmt: skip

    def work() -> None:
        while (due := jobs.get()) is not None:
            outcome = "fail:backlog" if time.monotonic() - due > TIMEOUT else one(due)
            with lock:
                results[outcome] += 1

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    workers = [threading.Thread(target=work) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    start = time.monotonic()
    for n in range(int(rps * seconds)):
        due = start + n / rps
        if stopping.wait(max(0.0, due - time.monotonic())):
            break
        jobs.put(due)
    for _ in workers:
        jobs.put(None)
    for worker in workers:
        worker.join()
    ok = {k[3:]: v for k, v in results.items() if k.startswith("ok:")}
    failed = {k[5:]: v for k, v in results.items() if k.startswith("fail:")}
    print(json.dumps({"ok": ok, "failed": failed, "details": details}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
