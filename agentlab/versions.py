"""Semver versions, npm-style ranges and the project's version policy.

Versions are semver 2.0 with an optional leading `v`. Ranges are translated to
plain comparators (python-semver has no caret or tilde):

- `1.2.3`, `=1.2.3`, `v1.2.3-rc.1+b7`: exactly that version (a build part, when
  given, must match too);
- `1.2`, `~1.2`, `1.2.x`: `>=1.2.0 <1.3.0`; `1`, `~1`, `1.x`: `>=1.0.0 <2.0.0`;
- `^1.2.3`: `>=1.2.3 <2.0.0`, `^0.2.3`: `>=0.2.3 <0.3.0`, `^0.0.3`: `>=0.0.3 <0.0.4`;
- `~1.2.3`: `>=1.2.3 <1.3.0`;
- comparisons `>=`, `>`, `<=`, `<`, `!=`, joined by spaces or commas (all must
  hold). A partial version in a comparison means its whole span, as in npm:
  `>1.2` is `>=1.3.0`, `<=2` is `<3.0.0`;
- `*`, `x`: any version.

Prereleases follow npm: a prerelease version matches only when one of the
range's own bounds (not a `!=`) is a prerelease of the same major.minor.patch,
so `^1.2.0` never picks `1.3.0-rc.1`, while `>=1.3.0-rc.1` does pick `1.3.0-rc.2`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import semver

from agentlab.common.errors import BadInput

Op = Literal["=", "!=", ">", ">=", "<", "<="]

VERSION_HINT = "use semver like v1.3.0 or a range like ^1.2"
LATEST = "latest"

_NUMBER = r"(?:0|[1-9]\d*)"
_WILD = r"(?:[xX*])"
_PART = rf"(?:{_NUMBER}|{_WILD})"
_PARTIAL = re.compile(rf"[vV]?(?P<major>{_PART})(?:\.(?P<minor>{_PART})(?:\.(?P<patch>{_PART}))?)?")
_OPERATOR = r"\^|~|>=|<=|!=|>|<|="
_TOKEN = re.compile(rf"(?P<op>{_OPERATOR})?(?P<version>.*)")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_REQUIREMENT = re.compile(r"\s*(?P<service>[A-Za-z0-9][A-Za-z0-9_.-]*?)(?P<range>[\s^~<>=!*].*)")
_SHOWN_TAGS = 8
_COMPARISONS: dict[str, Op] = {"!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


def parse_version(text: str) -> semver.Version:
    """Parse a full semver version, with an optional leading `v`. An image tag cannot hold
    `+`, so a tag writes build metadata after `_` (`1.3.0-dev.2_g1a2b3c4`): read as `+`."""
    body = text[1:] if text[:1] in ("v", "V") else text
    body = body.replace("_", "+")
    try:
        return semver.Version.parse(body)
    except ValueError:
        raise BadInput(f"malformed version '{text}'", hint=VERSION_HINT) from None


def try_version(text: str) -> semver.Version | None:
    try:
        return parse_version(text)
    except BadInput:
        return None


@dataclass(frozen=True)
class Comparator:
    """One bound of a range, such as `>=1.2.0`."""

    op: Op
    version: semver.Version

    def holds(self, v: semver.Version) -> bool:
        """Whether `v` satisfies this bound (precedence ignores build metadata)."""
        bound = self.version
        if self.op == "=":
            return v == bound and (bound.build is None or v.build == bound.build)
        if self.op == "!=":
            return v != bound or (bound.build is not None and v.build != bound.build)
        if self.op == ">":
            return v > bound
        if self.op == ">=":
            return v >= bound
        if self.op == "<":
            return v < bound
        return v <= bound

    def __str__(self) -> str:
        return str(self.version) if self.op == "=" else f"{self.op}{self.version}"


@dataclass(frozen=True)
class VersionRange:
    """A set of comparators that must all hold; no comparators means any version."""

    comparators: tuple[Comparator, ...]

    def matches(self, v: semver.Version) -> bool:
        """Whether `v` is in the range, with the npm prerelease rule."""
        if not all(c.holds(v) for c in self.comparators):
            return False
        if v.prerelease is None:
            return True
        return any(
            c.op != "!=" and c.version.prerelease is not None and _core(c.version) == _core(v)
            for c in self.comparators
        )

    def __str__(self) -> str:
        return " ".join(str(c) for c in self.comparators) or "*"


def _core(v: semver.Version) -> tuple[int, int, int]:
    return (v.major, v.minor, v.patch)


def parse_range(text: str) -> VersionRange:
    """Parse a version, a partial version, a caret/tilde range or comparisons."""
    tokens = [t for t in re.split(r"[\s,]+", text) if t]
    if not tokens:
        raise BadInput(f"malformed version range '{text}'", hint=VERSION_HINT)
    merged: list[str] = []
    for token in tokens:
        if merged and re.fullmatch(_OPERATOR, merged[-1]):
            merged[-1] += token
        else:
            merged.append(token)
    comparators: list[Comparator] = []
    for token in merged:
        comparators.extend(_parse_token(text, token))
    return VersionRange(tuple(comparators))


def _parse_token(text: str, token: str) -> list[Comparator]:
    match = _TOKEN.fullmatch(token)
    assert match is not None  # the pattern accepts any string
    op, body = match["op"] or "", match["version"]
    full = try_version(body)
    if full is not None:
        return _full_comparators(op, full)
    partial = _PARTIAL.fullmatch(body)
    numbers = _leading_numbers(partial) if partial else None
    if numbers is None:
        raise BadInput(f"malformed version range '{text}'", hint=VERSION_HINT)
    if not numbers:
        if op:
            raise BadInput(
                f"malformed version range '{text}'", hint=f"'{token}': use * alone for any version"
            )
        return []
    if op == "!=":
        raise BadInput(
            f"malformed version range '{text}'", hint="'!=' needs a full version like !=1.3.0"
        )
    return _partial_comparators(op, numbers)


def _leading_numbers(partial: re.Match[str]) -> list[int] | None:
    """The numbers before the first missing or wildcard part; None if a number follows one."""
    numbers: list[int] = []
    open_ended = False
    for part in partial.group("major", "minor", "patch"):
        if part is None or not part.isdigit():
            open_ended = True
        elif open_ended:
            return None
        else:
            numbers.append(int(part))
    return numbers


def _full_comparators(op: str, v: semver.Version) -> list[Comparator]:
    if op in ("", "="):
        return [Comparator("=", v)]
    if op == "^":
        if v.major:
            upper = semver.Version(v.major + 1)
        elif v.minor:
            upper = semver.Version(0, v.minor + 1)
        else:
            upper = semver.Version(0, 0, v.patch + 1)
        return [Comparator(">=", v), Comparator("<", upper)]
    if op == "~":
        return [Comparator(">=", v), Comparator("<", semver.Version(v.major, v.minor + 1))]
    return [Comparator(_COMPARISONS[op], v)]


def _partial_comparators(op: str, numbers: list[int]) -> list[Comparator]:
    """Comparators for `1` or `1.2`, whose span runs up to the next major or minor."""
    lower = semver.Version(*numbers)
    if len(numbers) == 1 or (op == "^" and numbers[0]):
        upper = semver.Version(numbers[0] + 1)
    else:
        upper = semver.Version(numbers[0], numbers[1] + 1)
    if op in ("", "=", "~", "^"):
        return [Comparator(">=", lower), Comparator("<", upper)]
    if op == ">=":
        return [Comparator(">=", lower)]
    if op == ">":
        return [Comparator(">=", upper)]
    if op == "<":
        return [Comparator("<", lower)]
    return [Comparator("<", upper)]  # "<="


@dataclass(frozen=True)
class VersionPolicy:
    """Which tags a project accepts besides semver ones."""

    allow_latest: bool = False
    allow_non_semver: bool = False


class NoMatchingVersion(BadInput):
    """No local tag matches a version spec; `available` lists every local tag (sorted),
    and the hint the highest of them."""

    def __init__(self, spec: str, available: list[str]) -> None:
        shown = available[-_SHOWN_TAGS:]
        listing = ", ".join(shown) if shown else "none"
        if len(available) > len(shown):
            listing = f"… {listing}"
        super().__init__(f"no local image matches {spec}", hint=f"local versions: {listing}")
        self.spec = spec
        self.available = available


def check_policy(tag: str, policy: VersionPolicy) -> str | None:
    """Why `tag` is blocked by `policy`, or None when it is allowed."""
    if tag == LATEST:
        return None if policy.allow_latest else f"'{LATEST}' is not allowed by the project policy"
    if try_version(tag) is None and not policy.allow_non_semver:
        return f"'{tag}' is not a semver tag"
    return None


def sort_tags(tags: Iterable[str]) -> list[str]:
    """Semver tags by precedence (ties by text), then other tags alphabetically."""
    semver_tags: list[tuple[semver.Version, str]] = []
    other: list[str] = []
    for tag in tags:
        v = try_version(tag)
        if v is None:
            other.append(tag)
        else:
            semver_tags.append((v, tag))
    semver_tags.sort()
    return [tag for _, tag in semver_tags] + sorted(other)


def resolve(spec: str, tags: Iterable[str], policy: VersionPolicy) -> str:
    """The local tag that `spec` selects: the highest semver tag in the range, or,
    when the policy allows it, `latest` or a non-semver tag by exact name."""
    local = sort_tags(tags)
    spec = spec.strip()
    try:
        wanted = parse_range(spec)
    except BadInput:
        if not _TAG.fullmatch(spec):
            raise
        reason = check_policy(spec, policy)
        if reason is not None:
            allow = "allow_latest" if spec == LATEST else "allow_non_semver"
            hint = f"name a semver version like v1.3.0, or set policy: {{{allow}: true}}"
            raise BadInput(reason, hint=f"{hint} in agentlab.yaml") from None
        if spec in local:
            return spec
        raise NoMatchingVersion(spec, local) from None
    for tag in reversed(local):
        v = try_version(tag)
        if v is not None and wanted.matches(v):
            return tag
    raise NoMatchingVersion(spec, local)


def parse_requirement(text: str) -> tuple[str, VersionRange]:
    """Split a requirement like `collector>=2.0.0` into a service and a range."""
    match = _REQUIREMENT.fullmatch(text)
    if match is None or not match["range"].strip():
        raise BadInput(
            f"malformed requirement '{text}'",
            hint="name a service followed by a range, like collector>=2.0.0",
        )
    try:
        return match["service"], parse_range(match["range"])
    except BadInput as err:
        raise BadInput(f"malformed requirement '{text}'", hint=err.hint) from None


def image_tag(version: str) -> str:
    """The image tag of a version: as written, but `+` (not allowed in a tag) becomes `_`."""
    return version.replace("+", "_")


def git_version(describe: str, commits: int) -> str:
    """A semver version from `git describe --tags --long --dirty --always` output and the
    number of commits (used when no tag is found):

    - on a release tag, clean: that release (`v1.2.0-0-gabc1234` -> `1.2.0`);
    - anywhere else: a prerelease of the next patch with the commit in the build metadata,
      `.dirty` when the tree has uncommitted changes (`v1.2.0-3-gabc1234-dirty` ->
      `1.2.1-dev.3+gabc1234.dirty`); after a prerelease tag, a later prerelease of it
      (`v1.3.0-rc.1-2-gabc1234` -> `1.3.0-rc.1.dev.2+gabc1234`);
    - with no tag: `0.0.1-dev.<commits>+g<commit>`.
    Never a plain release for a tree with uncommitted changes."""
    text = describe.strip()
    dirty = text.endswith("-dirty")
    text = text.removesuffix("-dirty")
    match = re.fullmatch(r"(?P<tag>.+)-(?P<count>\d+)-g(?P<commit>[0-9a-f]+)", text)
    tagged = try_version(match["tag"]) if match else None
    if match is None and re.fullmatch(r"[0-9a-f]+", text):
        base, count, commit = semver.Version(0, 0, 0), commits, text
    elif match is not None and tagged is not None:
        base, count, commit = tagged, int(match["count"]), match["commit"]
    else:
        raise BadInput(f"cannot read a version from git describe '{describe}'",
                       hint="tag releases like v1.2.0, or pass --version")  # fmt: skip
    build = f"g{commit}" + (".dirty" if dirty else "")
    if count == 0 and not dirty:
        return str(base)
    if base.prerelease:
        return str(base.replace(prerelease=f"{base.prerelease}.dev.{count}", build=build))
    return str(base.bump_patch().replace(prerelease=f"dev.{count}", build=build))
