#!/usr/bin/env python3
"""Stand-in for the ``mongo`` shell, enough for the healthcheck:
``mongo [--quiet] [--host HOST] --eval "db.runCommand('ping').ok"`` prints 1 and exits 0
when mongod answers, else exits 1.
"""

import json
import sys
import urllib.request


def main(argv: list[str]) -> int:
    host, script, quiet = "127.0.0.1:27017", "", False
    args = iter(argv)
    for arg in args:
        if arg == "--host":
            host = next(args, host)
        elif arg == "--eval":
            script = next(args, "")
        elif arg == "--quiet":
            quiet = True
    if "ping" not in script:
        print("this mongo stand-in only evaluates db.runCommand('ping').ok", file=sys.stderr)
        return 2
    try:
        with urllib.request.urlopen(f"http://{host}/health", timeout=2) as r:
            ok = json.load(r).get("ok") == 1
    except (OSError, ValueError) as e:
        if not quiet:
            print(f"Error: couldn't connect to server {host}: {e}", file=sys.stderr)
        return 1
    print(1 if ok else 0)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
