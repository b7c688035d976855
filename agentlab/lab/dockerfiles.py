"""The images a Dockerfile builds from, read without building: agentlab never pulls, so
every base must be local before a build starts (BuildKit would otherwise fetch it)."""

from __future__ import annotations

import re
from collections.abc import Mapping

_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}"
                       r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")  # fmt: skip
_SYNTAX = re.compile(r"#\s*syntax\s*=\s*(\S+)", re.IGNORECASE)


def base_images(text: str, args: Mapping[str, str], target: str | None = None) -> list[str]:
    """The images the stages up to `target` (every stage without one) start from or copy
    from, with build args and the global ARG defaults substituted; the frontend image a
    `# syntax=` line names comes first. Stage names and `scratch` are not images."""
    lines = _logical_lines(text)
    found: list[str] = []
    syntax = _SYNTAX.fullmatch(lines[0]) if lines else None
    if syntax:
        found.append(syntax.group(1))
    values: dict[str, str] = {}
    stages: set[str] = set()
    stage: str | None = None  # the stage being read; None before the first FROM
    for line in lines:
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        instruction = words[0].upper()
        if instruction == "ARG" and stage is None and len(words) > 1:
            name, _, default = words[1].partition("=")
            values[name] = args.get(name, _substitute(default, values))
        elif instruction == "FROM":
            if stage is not None and stage == target:
                break  # the stages after the target are not built
            rest = [w for w in words[1:] if not w.startswith("--")]
            if not rest:
                continue
            image = _substitute(rest[0], {**values, **args})
            if image.lower() != "scratch" and image not in stages:
                found.append(image)
            stage = rest[2] if len(rest) > 2 and rest[1].upper() == "AS" else ""
            stages.add(stage)
        elif instruction in ("COPY", "ADD") and stage is not None:
            for word in words[1:]:
                if word.startswith("--from="):
                    source = _substitute(word.removeprefix("--from="), {**values, **args})
                    if not source.isdigit() and source not in stages:
                        found.append(source)
    return list(dict.fromkeys(found))


def _logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined (comments kept: `# syntax=` is one)."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    if pending:
        lines.append(pending)
    return [line for line in lines if line]


def _substitute(text: str, values: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        found = values.get(name, "")
        return found if found else (match.group("default") or "")

    return _VARIABLE.sub(value, text)
