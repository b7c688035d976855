#!/usr/bin/env python3
"""Stand-in for ``mysqladmin ping -h HOST --password=PW [--silent]`` (the healthcheck).

Exits 0 when the server answers PONG to the password, 1 otherwise.
"""

import socket
import sys


def main(argv: list[str]) -> int:
    host, password, silent = "127.0.0.1", "", False
    args = iter(argv)
    for arg in args:
        if arg == "-h":
            host = next(args, host)
        elif arg.startswith("--password="):
            password = arg.split("=", 1)[1]
        elif arg == "--silent":
            silent = True
    try:
        with socket.create_connection((host, 3306), timeout=2) as s:
            f = s.makefile("rw")
            f.write(f"AUTH {password}\nPING\n")
            f.flush()
            ok = f.readline().strip() == "OK" and f.readline().strip() == "PONG"
    except OSError as e:
        ok = False
        if not silent:
            print(f"mysqladmin: connect to server at '{host}' failed: {e}", file=sys.stderr)
    if ok and not silent:
        print("mysqld is alive")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[2:] if sys.argv[1:2] == ["ping"] else sys.argv[1:]))
