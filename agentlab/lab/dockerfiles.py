"""The images a Dockerfile builds from, read without building: agentlab never pulls, so
every base must be local before a build starts (BuildKit would otherwise fetch it)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}"
                       r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")  # fmt: skip
_SYNTAX = re.compile(r"#\s*syntax\s*=\s*(\S+)", re.IGNORECASE)


@dataclass
class _Stage:
    name: str  # lowercased, as Docker compares stage names; "" when it has none
    base: str
    sources: list[str] = field(default_factory=list)  # COPY/ADD --from values


def base_images(
    text: str,
    args: Mapping[str, str],
    target: str | None = None,
    buildkit: bool = False,
    contexts: Collection[str] = (),
) -> list[str]:
    """The images the stages a build runs start from or copy from, with build args and the
    global ARG defaults substituted; the frontend image a `# syntax=` line names comes
    first. The stages a build runs: with `buildkit`, the target (else the last stage) and
    those it needs; without, every stage up to the target. Stage names (any case),
    `scratch` and the build's named `contexts` are not images."""
    syntax, stages = _stages(text, args)
    named = {stage.name: index for index, stage in enumerate(stages) if stage.name}
    local = {name.lower() for name in contexts}

    def stage_of(ref: str, before: int) -> int | None:
        index = int(ref) if ref.isdigit() else named.get(ref.lower())
        return index if index is not None and index < before else None

    last = named.get(target.lower(), len(stages) - 1) if target else len(stages) - 1
    if buildkit:
        run: set[int] = set()
        pending = [last] if stages else []
        while pending:
            index = pending.pop()
            if index not in run:
                run.add(index)
                refs = [stages[index].base, *stages[index].sources]
                pending += [j for ref in refs if (j := stage_of(ref, index)) is not None]
    else:
        run = set(range(last + 1))
    found = [syntax] if syntax else []
    for index in sorted(run):
        for ref in (stages[index].base, *stages[index].sources):
            stage = ref.isdigit() or stage_of(ref, index) is not None
            if not stage and ref.lower() not in {"scratch", *local}:
                found.append(ref)
    return list(dict.fromkeys(found))


def frontend(text: str) -> str | None:
    """The BuildKit frontend image a `# syntax=` first line names, if any."""
    lines = _logical_lines(text)
    syntax = _SYNTAX.fullmatch(lines[0]) if lines else None
    return syntax.group(1) if syntax else None


def global_arg(text: str, name: str) -> str | None:
    """The default of the global `ARG name` (before the first FROM): "" when it has none,
    None when the Dockerfile declares no such argument."""
    for line in _logical_lines(text):
        words = line.split()
        if words and words[0].upper() == "FROM":
            break
        if words and words[0].upper() == "ARG":
            found = dict(_declared(words))
            if name in found:
                return found[name]
    return None


def _declared(words: list[str]) -> list[tuple[str, str]]:
    """An ARG line's arguments and their defaults ("" for none), quotes taken off:
    `ARG A=1 B="x"`."""
    pairs = []
    for word in words[1:]:
        name, _, default = word.partition("=")
        if len(default) > 1 and default[0] == default[-1] and default[0] in "\"'":
            default = default[1:-1]
        pairs.append((name, default))
    return pairs


def _stages(text: str, args: Mapping[str, str]) -> tuple[str | None, list[_Stage]]:
    """The `# syntax=` image, and each stage's name, base and the stages or images it
    takes files from (`COPY --from`, `RUN --mount=...,from=`)."""
    lines = _logical_lines(text)
    values: dict[str, str] = {}
    stages: list[_Stage] = []
    for line in lines:
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        instruction = words[0].upper()
        if instruction == "ARG" and not stages:
            for name, default in _declared(words):
                values[name] = args.get(name, _substitute(default, values))
        elif instruction == "FROM":
            rest = [w for w in words[1:] if not w.startswith("--")]
            if rest:
                name = rest[2].lower() if len(rest) > 2 and rest[1].upper() == "AS" else ""
                stages.append(_Stage(name, _substitute(rest[0], {**values, **args})))
        elif instruction in ("COPY", "ADD", "RUN") and stages:
            for source in _sources(words[1:]):
                stages[-1].sources.append(_substitute(source, {**values, **args}))
    return frontend(text), stages


def _sources(words: list[str]) -> list[str]:
    """What an instruction's flags take files from: `--from=X`, `--mount=...,from=X`."""
    found = []
    for word in words:
        if word.startswith("--from="):
            found.append(word.removeprefix("--from="))
        elif word.startswith("--mount="):
            options = dict(o.partition("=")[::2] for o in word.removeprefix("--mount=").split(","))
            if options.get("from"):
                found.append(options["from"])
    return found


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
