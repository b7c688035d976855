"""Scripted mode for the registry and the lock file: `images push`, `images pull`,
`lock`, and `up --locked` (the flag; `up` itself is in commands.py)."""

from __future__ import annotations

import argparse
from typing import Any

from agentlab.cli.commands_base import open_lab, say
from agentlab.cli.jsonout import emit_json


def add_up_flags(up: argparse.ArgumentParser) -> None:
    up.add_argument(
        "--locked",
        action="store_true",
        help="run exactly the digests agentlab.lock records (fetched from the registry "
        "when missing; refused before any change when nowhere)",
    )


def add_image_parsers(img_sub: Any) -> None:
    push = img_sub.add_parser("push", help="push local images to the lab's registry")
    push.add_argument("--service", help="only this service")
    push.add_argument("--version", dest="target", help="only this version")
    push.add_argument("--json", action="store_true")
    pull = img_sub.add_parser("pull", help="fetch a version from the lab's registry")
    pull.add_argument("service")
    pull.add_argument("version")
    pull.add_argument("--json", action="store_true")


def add_parsers(sub: Any) -> None:
    lock = sub.add_parser(
        "lock", help="write agentlab.lock: each managed service's pinned image by digest"
    )
    lock.add_argument("--json", action="store_true")


def cmd_images(args: argparse.Namespace) -> int:
    lab = open_lab(args)
    if args.images_command == "push":
        pushed = lab.push_images(args.service, args.target, say)
        if args.json:
            emit_json([{"image": ref, "digest": digest} for ref, digest in pushed])
        else:
            for ref, digest in pushed:
                print(f"{ref}  {digest}")
        return 0
    digest = lab.pull_image(args.service, args.version, say)
    if args.json:
        emit_json({"service": args.service, "version": args.version, "digest": digest})
    return 0


def cmd_lock(args: argparse.Namespace) -> int:
    path, services = open_lab(args).lock()
    if args.json:
        emit_json({"path": str(path), "services": {
            name: {"version": s.version, "image": s.image, "digest": s.digest}
            for name, s in services.items()}})  # fmt: skip
    else:
        for name, locked in services.items():
            print(f"{name:12} {locked.version:10} {locked.image}")
        say(f"wrote {path}")
    return 0
