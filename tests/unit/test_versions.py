from __future__ import annotations

import pytest
import semver

from agentlab.common.errors import BadInput
from agentlab.versions import (
    NoMatchingVersion,
    VersionPolicy,
    check_policy,
    git_version,
    image_tag,
    parse_range,
    parse_requirement,
    parse_version,
    resolve,
    sort_tags,
)

STRICT = VersionPolicy()
LOOSE = VersionPolicy(allow_latest=True, allow_non_semver=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3", semver.Version(1, 2, 3)),
        ("v1.2.3", semver.Version(1, 2, 3)),
        ("V0.0.1", semver.Version(0, 0, 1)),
        ("1.3.0-rc.1", semver.Version(1, 3, 0, "rc.1")),
        ("v2.0.0-beta.2+build.7", semver.Version(2, 0, 0, "beta.2", "build.7")),
        ("10.20.30", semver.Version(10, 20, 30)),
    ],
)
def test_parse_version(text: str, expected: semver.Version) -> None:
    v = parse_version(text)
    assert v == expected
    assert v.build == expected.build


@pytest.mark.parametrize(
    "text",
    ["1.2", "v1", "", "v", "vv1.2.3", "1.2.3.4", "01.2.3", "1.2.3-", " 1.2.3", "1.2.3\n", "latest"],
)
def test_parse_version_rejects(text: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_version(text)
    assert info.value.message == f"malformed version '{text}'"
    assert info.value.hint == "use semver like v1.3.0 or a range like ^1.2"
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("1.2.3", "1.2.3"),
        ("v1.2.3", "1.2.3"),
        ("=1.2.3", "1.2.3"),
        ("v1.2.3-rc.1+b7", "1.2.3-rc.1+b7"),
        ("1.2", ">=1.2.0 <1.3.0"),
        ("v1", ">=1.0.0 <2.0.0"),
        ("=1.2", ">=1.2.0 <1.3.0"),
        ("1.x", ">=1.0.0 <2.0.0"),
        ("1.2.X", ">=1.2.0 <1.3.0"),
        ("1.*.*", ">=1.0.0 <2.0.0"),
        ("^1.2.3", ">=1.2.3 <2.0.0"),
        ("^0.2.3", ">=0.2.3 <0.3.0"),
        ("^0.0.3", ">=0.0.3 <0.0.4"),
        ("^1.2", ">=1.2.0 <2.0.0"),
        ("^0.2", ">=0.2.0 <0.3.0"),
        ("^0.0", ">=0.0.0 <0.1.0"),
        ("^0", ">=0.0.0 <1.0.0"),
        ("^v1", ">=1.0.0 <2.0.0"),
        ("^1.3.0-rc.1", ">=1.3.0-rc.1 <2.0.0"),
        ("~1.2.3", ">=1.2.3 <1.3.0"),
        ("~1.2", ">=1.2.0 <1.3.0"),
        ("~1", ">=1.0.0 <2.0.0"),
        ("~0.0.3", ">=0.0.3 <0.1.0"),
        (">=1.2 <2", ">=1.2.0 <2.0.0"),
        (">=1.2, <2", ">=1.2.0 <2.0.0"),
        (">=1.2,<2", ">=1.2.0 <2.0.0"),
        (">= 1.2 < 2", ">=1.2.0 <2.0.0"),
        (">1.0.0", ">1.0.0"),
        (">1.2", ">=1.3.0"),
        (">1", ">=2.0.0"),
        ("<1.2", "<1.2.0"),
        ("<=2", "<3.0.0"),
        ("<=1.2.3", "<=1.2.3"),
        ("!=1.3.0", "!=1.3.0"),
        (">=1 !=1.3.0", ">=1.0.0 !=1.3.0"),
        ("*", "*"),
        ("x", "*"),
        ("  *  ", "*"),
        ("* >=1.2", ">=1.2.0"),
    ],
)
def test_parse_range_normalizes(text: str, normalized: str) -> None:
    rng = parse_range(text)
    assert str(rng) == normalized
    assert parse_range(str(rng)) == rng


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("", "use semver like v1.3.0 or a range like ^1.2"),
        ("  ,", "use semver like v1.3.0 or a range like ^1.2"),
        (">=", "use semver like v1.3.0 or a range like ^1.2"),
        ("1.2.3.4", "use semver like v1.3.0 or a range like ^1.2"),
        ("01.2", "use semver like v1.3.0 or a range like ^1.2"),
        ("1.x.3", "use semver like v1.3.0 or a range like ^1.2"),
        ("^^1", "use semver like v1.3.0 or a range like ^1.2"),
        ("=>1.2", "use semver like v1.3.0 or a range like ^1.2"),
        ("1.2 - 2.0", "use semver like v1.3.0 or a range like ^1.2"),
        ("stable", "use semver like v1.3.0 or a range like ^1.2"),
        ("latest", "use semver like v1.3.0 or a range like ^1.2"),
        ("^*", "'^*': use * alone for any version"),
        (">=x", "'>=x': use * alone for any version"),
        ("!=1.3", "'!=' needs a full version like !=1.3.0"),
    ],
)
def test_parse_range_rejects(text: str, hint: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_range(text)
    assert info.value.message == f"malformed version range '{text}'"
    assert info.value.hint == hint


@pytest.mark.parametrize(
    ("text", "version", "matches"),
    [
        ("1.2.3", "1.2.3", True),
        ("1.2.3", "1.2.4", False),
        ("1.2.3", "1.2.3+b7", True),
        ("1.2.3+b7", "1.2.3+b7", True),
        ("1.2.3+b7", "1.2.3+b8", False),
        ("1.2.3+b7", "1.2.3", False),
        ("1.2", "1.2.9", True),
        ("1.2", "1.3.0", False),
        ("1.2", "1.1.9", False),
        ("^1.2.3", "1.9.9", True),
        ("^1.2.3", "2.0.0", False),
        ("^1.2.3", "1.2.2", False),
        ("^0.2.3", "0.2.9", True),
        ("^0.2.3", "0.3.0", False),
        ("^0.0.3", "0.0.3", True),
        ("^0.0.3", "0.0.4", False),
        ("~1.2.3", "1.2.9", True),
        ("~1.2.3", "1.3.0", False),
        (">1.0.0", "1.0.0", False),
        (">1.0.0", "1.0.1", True),
        ("<=2", "2.9.9", True),
        ("<=2", "3.0.0", False),
        ("<=1.2.3", "1.2.3", True),
        ("<1.2", "1.1.99", True),
        ("<1.2", "1.2.0", False),
        ("!=1.3.0", "1.3.0", False),
        ("!=1.3.0", "1.3.1", True),
        ("!=1.3.0+b1", "1.3.0+b2", True),
        ("!=1.3.0+b1", "1.3.0+b1", False),
        (">=1.2 <2", "1.5.0", True),
        (">=1.2, <2", "2.0.0", False),
        ("*", "0.0.0", True),
        ("*", "99.1.2", True),
        # prereleases match only through a bound on the same major.minor.patch
        ("*", "1.3.0-rc.1", False),
        ("^1.2.0", "1.3.0-rc.1", False),
        ("<1.3.0", "1.3.0-rc.1", False),
        ("1.3.0-rc.1", "1.3.0-rc.1", True),
        (">=1.3.0-rc.1", "1.3.0-rc.2", True),
        (">=1.3.0-rc.1", "1.3.0", True),
        (">=1.3.0-rc.1", "1.4.0-rc.1", False),
        ("^1.3.0-rc.1", "1.3.0-rc.0", False),
        ("~1.3.0-beta", "1.3.0-rc.1", True),
        ("!=1.3.0-rc.1", "1.3.0-rc.2", False),
    ],
)
def test_matches(text: str, version: str, matches: bool) -> None:
    assert parse_range(text).matches(parse_version(version)) is matches


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["1.10.0", "1.2.0", "v1.9.0"], ["1.2.0", "v1.9.0", "1.10.0"]),
        (["1.3.0", "1.3.0-rc.2", "1.3.0-rc.10", "1.3.0-beta"],
         ["1.3.0-beta", "1.3.0-rc.2", "1.3.0-rc.10", "1.3.0"]),
        (["main", "2.0.0", "latest", "1.0", "stable", "1.0.0"],
         ["1.0.0", "2.0.0", "1.0", "latest", "main", "stable"]),
        (["v1.3.0", "1.3.0"], ["1.3.0", "v1.3.0"]),
        ([], []),
    ],
)  # fmt: skip
def test_sort_tags(tags: list[str], expected: list[str]) -> None:
    assert sort_tags(tags) == expected
    assert sort_tags(reversed(tags)) == expected


TAGS = ["1.2.0", "v1.3.0", "1.3.1-rc.1", "1.4.0-rc.1", "2.0.0", "0.9.0", "latest", "main"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("1.2.0", "1.2.0"),
        ("v1.2.0", "1.2.0"),
        ("1.3.0", "v1.3.0"),
        ("^1.2", "v1.3.0"),
        ("~1.2", "1.2.0"),
        ("1", "v1.3.0"),
        ("*", "2.0.0"),
        (">=1.2 <2", "v1.3.0"),
        ("<1", "0.9.0"),
        (">=1.4.0-rc.1 <2", "1.4.0-rc.1"),
        ("1.3.1-rc.1", "1.3.1-rc.1"),
        ("^1 !=1.3.0", "1.2.0"),
        ("  ^1.2  ", "v1.3.0"),
    ],
)
def test_resolve_picks_highest_matching_tag(spec: str, expected: str) -> None:
    assert resolve(spec, TAGS, STRICT) == expected


def test_resolve_tie_between_spellings_is_deterministic() -> None:
    assert resolve("1.3", ["v1.3.0", "1.3.0"], STRICT) == "v1.3.0"
    assert resolve("1.3", ["1.3.0", "v1.3.0"], STRICT) == "v1.3.0"


def test_resolve_ignores_non_semver_tags_for_ranges() -> None:
    with pytest.raises(NoMatchingVersion):
        resolve("1.2", ["1.2", "v1.2", "1.2.0.1"], LOOSE)


LATEST_HINT = (
    "name a semver version like v1.3.0, or set policy: {allow_latest: true} in agentlab.yaml"
)
OTHER_HINT = (
    "name a semver version like v1.3.0, or set policy: {allow_non_semver: true} in agentlab.yaml"
)


@pytest.mark.parametrize(
    ("spec", "policy", "message", "hint"),
    [
        ("latest", STRICT, "'latest' is not allowed by the project policy", LATEST_HINT),
        ("latest", VersionPolicy(allow_non_semver=True),
         "'latest' is not allowed by the project policy", LATEST_HINT),
        ("main", STRICT, "'main' is not a semver tag", OTHER_HINT),
        ("main", VersionPolicy(allow_latest=True), "'main' is not a semver tag", OTHER_HINT),
        ("^1.x.y", LOOSE, "malformed version range '^1.x.y'",
         "use semver like v1.3.0 or a range like ^1.2"),
        ("a b", LOOSE, "malformed version range 'a b'",
         "use semver like v1.3.0 or a range like ^1.2"),
    ],
)  # fmt: skip
def test_resolve_refuses(spec: str, policy: VersionPolicy, message: str, hint: str) -> None:
    with pytest.raises(BadInput) as info:
        resolve(spec, TAGS, policy)
    assert not isinstance(info.value, NoMatchingVersion)
    assert info.value.message == message
    assert info.value.hint == hint


@pytest.mark.parametrize(
    ("spec", "policy", "expected"),
    [
        ("latest", VersionPolicy(allow_latest=True), "latest"),
        ("main", VersionPolicy(allow_non_semver=True), "main"),
    ],
)
def test_resolve_allowed_by_policy(spec: str, policy: VersionPolicy, expected: str) -> None:
    assert resolve(spec, TAGS, policy) == expected


@pytest.mark.parametrize(
    ("spec", "policy"),
    [
        ("1.5.0", STRICT),
        ("v1.5.0", STRICT),
        ("=1.5.0", STRICT),
        ("^3", STRICT),
        ("1.3.0-rc.1", STRICT),
        ("latest", VersionPolicy(allow_latest=True)),
        ("stable", LOOSE),
    ],
)
def test_resolve_no_match(spec: str, policy: VersionPolicy) -> None:
    tags = ["2.0.0", "1.2.0", "main"]
    with pytest.raises(NoMatchingVersion) as info:
        resolve(spec, tags, policy)
    err = info.value
    assert err.message == f"no local image matches {spec}"
    assert err.hint == "local versions: 1.2.0, 2.0.0, main"
    assert err.available == ["1.2.0", "2.0.0", "main"]
    assert err.exit_code == 2


def test_no_match_hint_shows_the_highest_tags() -> None:
    tags = [f"1.{minor}.0" for minor in range(10)]
    with pytest.raises(NoMatchingVersion) as info:
        resolve("^2", tags, STRICT)
    assert info.value.available == tags
    assert info.value.hint == (
        "local versions: … 1.2.0, 1.3.0, 1.4.0, 1.5.0, 1.6.0, 1.7.0, 1.8.0, 1.9.0"
    )


def test_no_match_with_no_tags() -> None:
    with pytest.raises(NoMatchingVersion) as info:
        resolve("1.0.0", [], STRICT)
    assert info.value.hint == "local versions: none"


@pytest.mark.parametrize(
    ("tag", "policy", "reason"),
    [
        ("1.2.0", STRICT, None),
        ("v1.2.0-rc.1", STRICT, None),
        ("latest", STRICT, "'latest' is not allowed by the project policy"),
        ("latest", VersionPolicy(allow_non_semver=True),
         "'latest' is not allowed by the project policy"),
        ("latest", VersionPolicy(allow_latest=True), None),
        ("main", STRICT, "'main' is not a semver tag"),
        ("1.2", STRICT, "'1.2' is not a semver tag"),
        ("main", VersionPolicy(allow_latest=True), "'main' is not a semver tag"),
        ("main", VersionPolicy(allow_non_semver=True), None),
    ],
)  # fmt: skip
def test_check_policy(tag: str, policy: VersionPolicy, reason: str | None) -> None:
    assert check_policy(tag, policy) == reason


@pytest.mark.parametrize(
    ("text", "service", "normalized"),
    [
        ("collector>=2.0.0", "collector", ">=2.0.0"),
        ("collector >=2.0.0", "collector", ">=2.0.0"),
        ("collector ^2", "collector", ">=2.0.0 <3.0.0"),
        ("collector 2.1", "collector", ">=2.1.0 <2.2.0"),
        ("agent-v2~1.2.3", "agent-v2", ">=1.2.3 <1.3.0"),
        ("my_svc.1>=1, <2", "my_svc.1", ">=1.0.0 <2.0.0"),
        ("db=1.2.3", "db", "1.2.3"),
        ("db!=1.2.3", "db", "!=1.2.3"),
        ("db*", "db", "*"),
    ],
)
def test_parse_requirement(text: str, service: str, normalized: str) -> None:
    name, rng = parse_requirement(text)
    assert name == service
    assert str(rng) == normalized


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("collector", "name a service followed by a range, like collector>=2.0.0"),
        ("collector ", "name a service followed by a range, like collector>=2.0.0"),
        (">=2.0.0", "name a service followed by a range, like collector>=2.0.0"),
        ("", "name a service followed by a range, like collector>=2.0.0"),
        ("collector>=2.x.1", "use semver like v1.3.0 or a range like ^1.2"),
        ("collector!=2", "'!=' needs a full version like !=1.3.0"),
    ],
)
def test_parse_requirement_rejects(text: str, hint: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_requirement(text)
    assert info.value.message == f"malformed requirement '{text}'"
    assert info.value.hint == hint


@pytest.mark.parametrize(
    ("describe", "commits", "version"),
    [
        ("v1.2.0-0-gabc1234", 9, "1.2.0"),
        ("1.2.0-0-gabc1234", 9, "1.2.0"),
        ("v1.2.0-3-gabc1234", 9, "1.2.1-dev.3+gabc1234"),
        ("v1.2.0-0-gabc1234-dirty", 9, "1.2.1-dev.0+gabc1234.dirty"),
        ("v1.3.0-rc.1-2-gabc1234", 9, "1.3.0-rc.1.dev.2+gabc1234"),
        ("abc1234", 7, "0.0.1-dev.7+gabc1234"),
        ("abc1234-dirty", 7, "0.0.1-dev.7+gabc1234.dirty"),
    ],
)
def test_versions_from_git(describe: str, commits: int, version: str) -> None:
    assert git_version(describe, commits) == version
    assert parse_version(image_tag(version)) == parse_version(version)  # the tag reads back


def test_a_dirty_tree_is_never_a_release() -> None:
    assert parse_version(git_version("v2.0.0-0-gabc1234-dirty", 1)).prerelease is not None
    with pytest.raises(BadInput, match="cannot read a version"):
        git_version("release-5-2-gabc", 3)
    assert image_tag("1.2.1-dev.3+gabc.dirty") == "1.2.1-dev.3_gabc.dirty"
    assert sort_tags(["1.2.1-dev.3_gabc", "1.2.0", "1.2.1"]) == [
        "1.2.0",
        "1.2.1-dev.3_gabc",
        "1.2.1",
    ]
