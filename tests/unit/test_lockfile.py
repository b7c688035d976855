"""agentlab.lock: the round trip, the sorted diff-friendly text, validation of bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agentlab.common.errors import BadInput
from agentlab.state.lockfile import (
    HEADER,
    LockedService,
    LockFile,
    dump_lockfile,
    parse_lockfile,
    read_lockfile,
    write_lockfile,
)

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


def service(version: str, digest: str, repo: str = "127.0.0.1:5000/demo/agent") -> LockedService:
    labels = {"org.opencontainers.image.version": version, "io.agentlab.requires": "x>=1"}
    return LockedService(version, f"{repo}@{digest}", digest, labels)


def test_round_trip_keeps_every_environment(tmp_path: Path) -> None:
    path = tmp_path / "agentlab.lock"
    lock = LockFile({"default": {"agent": service("1.3.0", A)}})
    lock = lock.with_section("prod", {"agent": service("1.2.0", B)})
    write_lockfile(path, lock)
    again = read_lockfile(path)
    assert again == lock
    assert again is not None and again.section("prod") == {"agent": service("1.2.0", B)}
    assert again.with_section("default", {}).section("prod") == lock.section("prod")


def test_missing_file_is_none(tmp_path: Path) -> None:
    assert read_lockfile(tmp_path / "agentlab.lock") is None


def test_text_is_sorted_and_stable() -> None:
    lock = LockFile({
        "staging": {"gateway": service("1.0.0", B), "agent": service("1.3.0", A)},
        "default": {"agent": service("1.3.0", A)},
    })  # fmt: skip
    text = dump_lockfile(lock)
    assert text.startswith(HEADER + "lock_version: 1\nenvironments:\n  default:\n")
    assert text.index("  staging:") > text.index("  default:")
    staging = text[text.index("  staging:") :]
    assert staging.index("agent:") < staging.index("gateway:")
    entry = staging[staging.index("agent:") :]
    fields = [entry.index(f"{key}:") for key in ("version", "image", "digest", "labels")]
    assert fields == sorted(fields)  # one fixed order, as the format shows it
    assert entry.index("io.agentlab.requires") < entry.index("org.opencontainers")
    assert dump_lockfile(parse_lockfile(yaml.safe_load(text), Path("x"))) == text


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ({"lock_version": 2, "environments": {}}, "not a lock file of version 1"),
        ([], "not a lock file"),
        ({"lock_version": 1, "environments": []}, "'environments' must be a mapping"),
        ({"lock_version": 1, "environments": {"default": {}}}, "has no 'services'"),
        ({"lock_version": 1, "environments": {"default": {"services": {"a": {}}}}},
         "needs version, image and digest"),
        ({"lock_version": 1, "environments": {"default": {"services": {"a": {
            "version": "1.0.0", "image": f"r@{A}", "digest": B}}}}}, "image must be repository@"),
        ({"lock_version": 1, "environments": {"default": {"services": {"a": {
            "version": "1.0.0", "image": "r@sha256:12", "digest": "sha256:12"}}}}},
         "image must be repository@"),
        ({"lock_version": 1, "environments": {"default": {"services": {"a": {
            "version": "1.0.0", "image": f"r@{A}", "digest": A, "labels": []}}}}},
         "labels must be a mapping"),
    ],
)  # fmt: skip
def test_damaged_files_are_bad_input(doc: object, says: str) -> None:
    with pytest.raises(BadInput) as raised:
        parse_lockfile(doc, Path("agentlab.lock"))
    assert says in raised.value.message
    assert raised.value.hint == "write it again: agentlab lock"


def test_invalid_yaml_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "agentlab.lock"
    path.write_text("lock_version: [1\n")
    with pytest.raises(BadInput):
        read_lockfile(path)
