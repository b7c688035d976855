"""Drift against agentlab.lock, the registry's tags and the other environments: the pure
comparisons, the bounded registry reading (a local HTTP server), and environments on the
in-memory engine."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from agentlab.common.errors import BadInput
from agentlab.engine import registry as registry_api
from agentlab.engine.model import ContainerImage, Replica
from agentlab.engine.registry import answer_error, down_error
from agentlab.lab import registry as lab_registry
from agentlab.lab.drift import (
    ENVIRONMENT_DIFFERS,
    NOT_LOCKED,
    REPLICA_IMAGE,
    TAG_MOVED,
    Decision,
    Locked,
    RemoteTag,
    find_drift,
)
from agentlab.lab.drift_environments import EnvironmentRun, find_environment_drift
from agentlab.lab.drift_reading import _start_hint, registry_hint
from agentlab.lab.drift_registry import read_tags
from agentlab.lab.environments import environment_lab
from agentlab.project.location import load_project
from tests.http_stub import serving
from tests.unit.test_environments import REPO, Engines, start, write_project

LOCKED = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
REGISTRY_REPO = "127.0.0.1:5000/lab/agent"


def replica(name: str, image_id: str, ref: str = "lab/agent:1.3.0") -> Replica:
    return Replica(name, name, "agent", 1, ref, image_id, "running", None,
                   datetime.now(UTC))  # fmt: skip


def locked_decision(pin: str = "lab/agent:1.3.0", pinned: str | None = "id-pin") -> Decision:
    lock = Locked("prod", "1.3.0", LOCKED, REGISTRY_REPO, "lab/agent:1.3.0", "id-locked")
    return Decision("agent", pin, pinned, 2, lock)


# ---- the lock is the decision ------------------------------------------------------------


def test_replicas_on_the_locked_digest_are_no_drift() -> None:
    decision = locked_decision(pinned="id-locked")
    tags = {"lab/agent:1.3.0": "id-locked"}
    assert find_drift([decision], tags, [replica("a-1", "id-locked")]) == []


def test_a_service_on_a_version_the_lock_does_not_list_is_one_not_locked_line() -> None:
    decision = locked_decision(pin="lab/agent:1.4.0")
    tags = {"lab/agent:1.3.0": "id-locked", "lab/agent:1.4.0": "id-pin"}
    running = [replica("a-1", "id-pin", "lab/agent:1.4.0"), replica("a-2", "id-pin")]
    [drift] = find_drift([decision], tags, running, cli="agentlab -e prod")
    assert (drift.kind, drift.subject) == (NOT_LOCKED, "agent")
    assert "runs 1.4.0" in drift.reason and "locked 1.3.0 (sha256:aaaaaaaaaaaa)" in drift.reason
    assert "section prod" in drift.reason
    assert drift.hint.startswith("agentlab -e prod up --locked runs the locked digest")


def test_a_replica_on_neither_the_lock_nor_the_pin_is_a_replica_drift() -> None:
    running = [replica("a-1", "id-locked"), replica("a-2", "id-stranger")]
    [drift] = find_drift([locked_decision(pinned="id-locked")], {}, running)
    assert (drift.kind, drift.subject) == (REPLICA_IMAGE, "a-2")
    assert "up --locked" in drift.hint


def test_when_the_locked_image_is_not_here_every_replica_is_off_the_lock() -> None:
    lock = Locked("default", "1.3.0", LOCKED, REGISTRY_REPO, "lab/agent:1.3.0", None)
    decision = Decision("agent", "lab/agent:1.3.0", None, None, lock)
    kinds = [d.kind for d in find_drift([decision], {"lab/agent:1.3.0": "id-x"},
                                        [replica("a-1", "id-x")])]  # fmt: skip
    assert kinds == [TAG_MOVED, NOT_LOCKED]  # the local tag names another build


def test_the_locked_versions_tag_moved_here_or_in_the_registry() -> None:
    decision = locked_decision(pinned="id-locked")
    here = {"lab/agent:1.3.0": "id-rebuilt"}
    remote = {"agent": RemoteTag(f"{REGISTRY_REPO}:1.3.0", OTHER, None)}
    moved = find_drift([decision], here, [replica("a-1", "id-locked")], remote)
    assert [(d.kind, d.subject) for d in moved] == [
        (TAG_MOVED, "lab/agent:1.3.0"),
        (TAG_MOVED, f"{REGISTRY_REPO}:1.3.0"),
    ]
    assert "moved in the registry to sha256:bbbbbbbbbbbb" in moved[1].reason
    assert "agentlab.lock's section prod has sha256:aaaaaaaaaaaa" in moved[1].reason
    same = {"agent": RemoteTag(f"{REGISTRY_REPO}:1.3.0", LOCKED, None)}
    assert find_drift([decision], {}, [], same) == []
    gone = {"agent": RemoteTag(f"{REGISTRY_REPO}:1.3.0", None, None)}
    [drift] = find_drift([decision], {}, [], gone)
    assert "names nothing in the registry" in drift.reason


def test_a_service_a_lock_section_does_not_list_is_not_locked_while_it_runs() -> None:
    decision = Decision("agent", "lab/agent:1.3.0", "id-1", 1, unlisted="prod")
    [drift] = find_drift([decision], {}, [replica("a-1", "id-1")])
    assert drift.kind == NOT_LOCKED and "section prod does not list" in drift.reason
    assert drift.hint == "agentlab lock locks what runs now"
    assert find_drift([decision], {}, []) == []  # not running: nothing runs unlisted


# ---- without a lock: the registry's tag against the build pushed from here --------------


def test_a_tag_repushed_in_the_registry_is_moved_against_the_build_here() -> None:
    decision = Decision("agent", "lab/agent:1.3.0", "id-1", 1)
    tags = {"lab/agent:1.3.0": "id-1"}
    remote = {"agent": RemoteTag(f"{REGISTRY_REPO}:1.3.0", OTHER, LOCKED)}
    [drift] = find_drift([decision], tags, [replica("a-1", "id-1")], remote)
    assert (drift.kind, drift.subject) == (TAG_MOVED, f"{REGISTRY_REPO}:1.3.0")
    assert "images push --service agent --version 1.3.0" in drift.hint
    unpushed = {"agent": RemoteTag(f"{REGISTRY_REPO}:1.3.0", OTHER, None)}
    assert find_drift([decision], tags, [], unpushed) == []  # nothing here to compare with


# ---- environments ----------------------------------------------------------------------


def image(version: str, image_id: str, service: str = "agent") -> ContainerImage:
    return ContainerImage(service, f"lab/{service}:{version}", image_id, version)


def test_the_same_version_on_other_image_ids_in_another_environment_is_drift() -> None:
    mine = [image("1.3.0", "sha256:" + "1" * 64)] * 2
    staging = EnvironmentRun("staging", (image("1.3.0", "sha256:" + "2" * 64),))
    [drift] = find_environment_drift("prod", {"agent"}, mine, [staging])
    assert (drift.service, drift.kind, drift.subject) == ("agent", ENVIRONMENT_DIFFERS, "staging")
    assert drift.reason == (
        "agent 1.3.0 runs image 111111111111 here (prod) and image 222222222222 in staging"
    )
    assert "agentlab promote agent --from staging --to prod" in drift.hint


def test_other_versions_or_the_same_bytes_or_unchecked_services_are_not_drift() -> None:
    mine = [image("1.3.0", "sha256:1"), image("1.0.0", "sha256:9", "gateway")]
    others = [
        EnvironmentRun("staging", (image("1.4.1", "sha256:2"),)),  # another version: diff's job
        EnvironmentRun("dev", (image("1.3.0", "sha256:1"),)),  # the same bytes
        EnvironmentRun("qa", (image("1.0.0", "sha256:8", "gateway"),)),  # not checked here
    ]
    assert find_environment_drift("prod", {"agent"}, mine, others) == []


def test_read_drift_compares_the_running_environments_on_the_fake_engine(
    tmp_path: Path,
) -> None:
    engines, project = Engines(), load_project([str(write_project(tmp_path))], "shop")
    prod = start(engines, project, "prod", "1.3.0")
    assert prod.drift().environments == ()  # no other environment runs
    staging = start(engines, project, "staging", "1.3.0")
    assert staging.drift().drifts == () and staging.drift().environments == ("prod",)
    engines.images.add_image(f"{REPO}:1.3.0")  # rebuilt: another id for the same version
    fake = engines.by_project[prod.name]
    fake.remove_replica(fake.of("agent")[0].id)
    fake.start("agent", f"{REPO}:1.3.0", 1)
    kinds = {(d.subject, d.kind) for d in staging.drift().drifts}
    assert ("prod", ENVIRONMENT_DIFFERS) in kinds
    assert not any(d.kind == ENVIRONMENT_DIFFERS for d in staging.status().drift)  # local only
    dev = environment_lab(project, "dev", engines)
    assert dev.drift().environments == ("staging", "prod")  # dev runs nothing: no drift


def test_read_drift_takes_the_lock_of_its_environment_and_a_damaged_one_only_for_drift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = []

    def registry_has_the_locked(*key: str, timeout: float) -> str:
        asked.append(key)
        return LOCKED

    monkeypatch.setattr(registry_api, "manifest_digest", registry_has_the_locked)  # no network
    engines, project = Engines(), load_project([str(write_project(tmp_path))], "shop")
    prod = start(engines, project, "prod", "1.3.0")
    engines.images.add_image(f"{REGISTRY_REPO}:1.4.1", digest=LOCKED)  # pulled by digest
    entry = {"version": "1.4.1", "image": f"{REGISTRY_REPO}@{LOCKED}", "digest": LOCKED}
    lock = tmp_path / "agentlab.lock"
    lock.write_text(yaml.safe_dump({"lock_version": 1, "environments": {
        "prod": {"services": {"agent": entry}}}}))  # fmt: skip
    kinds = {(d.subject, d.kind) for d in prod.drift().drifts}
    moved = (f"{REPO}:1.4.1", TAG_MOVED)  # the local 1.4.1 is another build than the locked
    assert kinds == {("agent", NOT_LOCKED), ("gateway", NOT_LOCKED), moved}  # gateway: unlisted
    fake = engines.by_project[prod.name]
    for container in fake.of("agent"):
        fake.remove_replica(container.id)
    fake.start("agent", f"{REGISTRY_REPO}:1.4.1", 1)  # the locked bytes
    assert {(d.subject, d.kind) for d in prod.drift().drifts} == {("gateway", NOT_LOCKED), moved}
    assert ("127.0.0.1:5000", "lab/agent", "1.4.1") in asked
    staging = start(engines, project, "staging", "1.3.0")
    assert not [d for d in staging.drift().drifts if d.kind == NOT_LOCKED]  # no section
    lock.write_text("lock_version: [")
    with pytest.raises(BadInput, match="is not valid YAML"):
        prod.drift()
    # a view goes on without it: against the pin, the replica on the locked bytes is off
    assert [d.kind for d in prod.status().drift] == [REPLICA_IMAGE]


# ---- the registry, read with a bound ---------------------------------------------------


class Registry(http.server.BaseHTTPRequestHandler):
    """HEAD /v2/<repo>/manifests/<tag>: the digest of `tags`, else 404; `hang` answers
    nothing (a registry that is stuck)."""

    tags: ClassVar[dict[str, str]] = {}
    hang: ClassVar[threading.Event] = threading.Event()

    def do_HEAD(self) -> None:
        if self.hang.is_set():
            threading.Event().wait(5)  # stuck: the client's bound must end the look-up
            return
        digest = self.tags.get(self.path)
        self.send_response(200 if digest else 404)
        if digest:
            self.send_header("Docker-Content-Digest", digest)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[str]:
    Registry.hang.clear()
    with serving(Registry) as address:
        yield address
        Registry.hang.clear()


def test_read_tags_asks_each_tag_once(registry: str) -> None:
    Registry.tags = {"/v2/lab/agent/manifests/1.3.0": LOCKED}
    wanted = [(registry, "lab/agent", "1.3.0"), (registry, "lab/agent", "1.3.0"),
              (registry, "lab/agent", "9.9.9")]  # fmt: skip
    found = read_tags(wanted)
    assert found.error is None
    assert found.digests == {wanted[0]: LOCKED, wanted[2]: None}


def test_a_registry_that_is_down_or_stuck_is_one_error_and_no_digest(registry: str) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    down = read_tags([(closed, "lab/agent", "1.3.0")])
    assert down.digests == {} and down.error is not None
    assert down.error.one_line().startswith(f"the registry at {closed} does not answer")
    Registry.hang.set()
    stuck = read_tags([(registry, "lab/agent", "1.3.0")], timeout=0.2)
    assert stuck.digests == {} and stuck.error is not None


def test_a_port_that_answers_no_http_is_a_registry_that_does_not_answer() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        where = f"127.0.0.1:{listener.getsockname()[1]}"

        def garble() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(4096)
                connection.sendall(b"SSH-2.0-not-a-registry\r\n")

        thread = threading.Thread(target=garble, daemon=True)
        thread.start()
        found = read_tags([(where, "lab/agent", "1.3.0")])
        thread.join(5)
    assert found.digests == {} and found.error is not None
    assert found.error.one_line().startswith(f"the registry at {where} does not answer")


def test_a_registry_of_another_environment_is_started_by_that_environment_s_up(
    tmp_path: Path,
) -> None:
    """prod's lock names staging's registry: with it down, drift's hint said `agentlab up`,
    which starts prod's own."""
    settings = "primary: [agent]\nregistry: {port: 0}\n"
    engines = Engines()
    project = load_project([str(write_project(tmp_path, settings))], "shop")
    staging, prod = (environment_lab(project, env, engines) for env in ("staging", "prod"))
    where = lab_registry.configure(staging.model)  # the port it chose, kept in its override
    assert _start_hint(prod.model, where) == (
        "agentlab -e staging up starts it (that environment's registry); nothing was changed"
    )
    assert _start_hint(staging.model, where) == (
        "agentlab -e staging up starts it (or docker start its container); nothing was changed"
    )
    assert _start_hint(prod.model, "127.0.0.1:1") is None


def test_a_fixed_port_registry_is_started_by_the_up_of_the_environment_asking(
    tmp_path: Path,
) -> None:
    """A fixed port gives every environment one address: the default environment's drift
    hinted `agentlab -e staging up`, the first other environment with that address."""
    settings = (
        "primary: [agent]\nregistry: {port: 17210}\n"
        "environments: {staging: {ports: fixed}, prod: {ports: fixed}}\n"
    )
    engines = Engines()
    project = load_project([str(write_project(tmp_path, settings))], "shop")
    labs = {env: environment_lab(project, env, engines) for env in ("default", "staging", "prod")}
    assert {lab_registry.address(lab.model) for lab in labs.values()} == {"127.0.0.1:17210"}
    for env, up in (("default", "agentlab up"), ("prod", "agentlab -e prod up")):
        assert _start_hint(labs[env].model, "127.0.0.1:17210") == (
            f"{up} starts it (or docker start its container); nothing was changed"
        )


def test_a_lab_registry_that_answered_an_error_keeps_its_own_hint(tmp_path: Path) -> None:
    """Only a registry that does not answer is started by an `up`: one that answered
    HTTP 500 (or refused access) keeps the hint of what it answered."""
    engines = Engines()
    project = load_project([str(write_project(tmp_path, "registry: {port: 0}\n"))], "shop")
    lab = environment_lab(project, "default", engines)
    where = lab_registry.configure(lab.model)
    refused = answer_error(where, 500, "lab/agent:1.3.0")
    assert registry_hint(lab.model, refused, [where]) == refused.hint
    assert registry_hint(lab.model, down_error(where), [where]) == (
        "agentlab up starts it (or docker start its container); nothing was changed"
    )
