"""Where one agentlab CLI command spends its wall time: imports, then each subprocess.

Runs the command in this process with `subprocess.run`/`Popen` wrapped, and prints one line
per docker call (start offset, duration), the gaps between them (in process: Python work,
or sleeping between polls), and the total. A diagnostic for bench_up_status.py, not a benchmark.

    .venv/bin/python benchmarks/cli_breakdown.py -f agentlab/demo/compose.yaml -p NAME status
    .venv/bin/python benchmarks/cli_breakdown.py -p NAME up --version 1.3.0

It runs whatever agentlab command you give it, on the project you name (with
AGENTLAB_GATEWAY_PORT=0 unless set), so use a project of your own and bring it down after.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import threading
import time
from typing import Any

T0 = time.perf_counter()
CALLS: list[tuple[float, float, str]] = []


def main(argv: list[str]) -> int:
    os.environ.setdefault("AGENTLAB_GATEWAY_PORT", "0")
    real_run = subprocess.run
    real_init = subprocess.Popen.__init__

    inside_run = threading.local()

    def timed_run(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        inside_run.active = True
        try:
            return real_run(*args, **kwargs)
        finally:
            inside_run.active = False
            command = args[0] if args else kwargs.get("args")
            CALLS.append((started - T0, time.perf_counter() - started, _short(command)))

    def traced_init(self: Any, *args: Any, **kwargs: Any) -> None:
        if not getattr(inside_run, "active", False):
            # a Popen not made through subprocess.run (python-on-whales streams): start only
            command = args[0] if args else kwargs.get("args")
            CALLS.append((time.perf_counter() - T0, float("nan"), "popen " + _short(command)))
        real_init(self, *args, **kwargs)

    subprocess.run = timed_run
    subprocess.Popen.__init__ = traced_init  # type: ignore[method-assign]
    imported = time.perf_counter()
    from agentlab.cli.main import main as agentlab_main

    import_s = time.perf_counter() - imported
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out):
        try:
            code = agentlab_main(argv) or 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    total = time.perf_counter() - T0
    calls = sorted(CALLS)
    print(f"agentlab {' '.join(argv)}  (exit {code})")
    print(f"  {imported - T0:7.3f}  +{import_s:6.3f}  import agentlab.cli.main")
    cursor = imported - T0 + import_s
    spent = 0.0
    for start, seconds, command in calls:
        if start - cursor > 0.02:
            print(f"  {cursor:7.3f}  +{start - cursor:6.3f}  (in process: Python, or sleeping)")
        print(f"  {start:7.3f}  +{seconds:6.3f}  {command}")
        if seconds == seconds:
            cursor = start + seconds
            spent += seconds
    if total - cursor > 0.02:
        print(f"  {cursor:7.3f}  +{total - cursor:6.3f}  (in process: Python, or sleeping)")
    print(
        f"  total {total:.3f} s: {len(calls)} subprocesses {spent:.3f} s, "
        f"the rest {total - spent:.3f} s in Python (this process started before the clock)"
    )
    return code


def _short(command: object) -> str:
    if isinstance(command, list | tuple):
        words = [os.path.basename(str(w)) if i == 0 else str(w) for i, w in enumerate(command)]
        text = " ".join(words)
    else:
        text = str(command)
    text = text.replace(os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + "/", "")
    return text if len(text) <= 110 else text[:107] + "..."


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
