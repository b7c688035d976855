"""An environment that requires a locked digest (`policy: {require_lock: true}`), on fake
engines: what it accepts (a version some section of agentlab.lock lists, run by digest),
what it refuses before any change (with the way to lock it), promote into it by digest,
and rollbacks, never refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.common.errors import BadInput
from agentlab.engine import registry as registry_api
from agentlab.lab.catalogue import REQUIRES_LABEL as REQUIRES
from agentlab.lab.environments import environment_lab
from agentlab.lab.facade import Lab
from agentlab.lab.promotion import plan_promotion, run_promotion
from agentlab.project.config import parse_settings
from agentlab.project.location import Project, load_project
from agentlab.state.lockfile import LockedService, LockFile, write_lockfile
from tests.unit.test_environments import REPO, Engines, start, write_project

D130, D141, DGW = (f"sha256:{c * 64}" for c in "abc")
ENVIRONMENTS = (
    "environments: {staging: {}, prod: {policy: {allow_prerelease: false, require_lock: true}}}\n"
)


@pytest.fixture(autouse=True)
def no_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTLAB_ENV", raising=False)
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)


@pytest.fixture
def engines() -> Engines:
    found = Engines()
    found.images.add_image(f"{REPO}:1.3.0", digest=D130)  # pushed: a digest to lock
    found.images.add_image(f"{REPO}:1.4.1", digest=D141)
    found.images.add_image("lab/gateway:1.0.0", digest=DGW)
    return found


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return load_project([str(write_project(tmp_path, "primary: [agent]\n" + ENVIRONMENTS))], "shop")


def unchanged(lab: Lab) -> str | None:
    return lab.override_path.read_text() if lab.override_path.exists() else None


def test_the_default_prod_requires_a_lock_when_the_project_has_a_registry(tmp_path: Path) -> None:
    path = tmp_path / "agentlab.yaml"
    with_registry = parse_settings({"registry": {"port": 0}}, path).environments
    assert with_registry["prod"].policy.require_lock
    assert not with_registry["staging"].policy.require_lock
    assert not parse_settings({}, path).environments["prod"].policy.require_lock
    written = parse_settings({"environments": {"qa": {"policy": {"require_lock": True}}}}, path)
    assert written.environments["qa"].policy.require_lock
    with pytest.raises(BadInput, match="require_lock must be true or false"):
        parse_settings({"environments": {"qa": {"policy": {"require_lock": "yes"}}}}, path)


def test_without_a_lock_file_prod_refuses_and_says_how_to_lock(
    engines: Engines, project: Project
) -> None:
    prod = start(engines, project, "prod", "1.3.0")
    before = unchanged(prod)
    with pytest.raises(BadInput) as refused:
        prod.plan_rollout("agent", "1.4.1")
    assert refused.value.message == (
        "agent 1.4.1: prod runs only digests agentlab.lock records (policy require_lock), "
        "and there is no agentlab.lock"
    )
    assert "lock it in staging: agentlab -e staging up --set agent=1.4.1" in refused.value.hint
    assert "agentlab -e staging lock" in refused.value.hint
    with pytest.raises(BadInput, match="unknown service 'agnet'"):  # a typo is said as one
        prod.plan_rollout("agnet", "1.4.1")
    with pytest.raises(BadInput, match=r"there is no agentlab\.lock"):
        prod.up(None, {}, timeout=5)  # a plain up too: what it would run is not locked
    assert unchanged(prod) == before
    assert not engines.by_project["shop-prod"].called("up")


def test_a_version_staging_locked_runs_in_prod_by_digest(
    engines: Engines, project: Project
) -> None:
    staging = start(engines, project, "staging", "1.4.1")
    staging.lock()
    prod = start(engines, project, "prod", "1.3.0")
    for spec in ("1.4.1", "v1.4.1", "^1.4"):
        assert prod.plan_rollout("agent", spec).target.image == f"{REPO}:1.4.1@{D141}"
    with pytest.raises(BadInput, match=r"agent 1\.3\.1: .* it lists agent at 1\.4\.1"):
        prod.plan_rollout("agent", "1.3.1")
    with pytest.raises(BadInput, match="prod refuses the prerelease"):
        prod.plan_rollout("agent", "1.4.1-dev.1")  # the version policy still comes first
    result = prod.rollout("agent", "1.4.1")
    assert result.outcome == "complete"
    assert prod.current_image("agent") == f"{REPO}:1.4.1@{D141}"
    files = engines.by_project[prod.name].files_images  # the compose file edited, over the pin
    for edited, refused in (("1.2.0", "it lists agent at 1.4.1"), ("1.5.0-rc.1", "prerelease")):
        files["agent"] = f"{REPO}:{edited}"
        with pytest.raises(BadInput, match=refused):
            prod.plan_up(None, {})  # the lock and the policy have their say on an edit too
    files["agent"] = f"{REPO}:1.3.0"  # what it was pinned over: no edit
    assert prod.history().revisions("agent")[-1].digest == D141


def test_up_pins_every_service_to_its_locked_digest(engines: Engines, project: Project) -> None:
    plain = start(engines, project, "default", "1.3.0")
    plain.lock()  # the default section: agent 1.3.0, gateway 1.0.0
    prod = environment_lab(project, "prod", engines)  # fresh: nothing runs, nothing pinned
    engines.by_project["shop-prod"].add_service("agent", f"{REPO}:1.3.0", replicas=0)
    engines.by_project["shop-prod"].add_service("gateway", "lab/gateway:1.0.0", replicas=0)
    prod.reload()
    prod.up(None, {}, timeout=5)
    prod.reload()
    assert prod.current_image("agent") == f"{REPO}:1.3.0@{D130}"
    assert prod.current_image("gateway") == f"lab/gateway:1.0.0@{DGW}"
    with pytest.raises(BadInput, match=r"agent 1\.4\.1: .* it lists agent at 1\.3\.0"):
        prod.up(None, {"agent": "1.4.1"}, timeout=5)


def test_a_service_kept_at_a_non_semver_tag_runs_by_its_locked_digest(
    engines: Engines, project: Project
) -> None:
    """A `postgres:16-alpine` the project does not version: the project's policy on tags
    one asks for does not refuse it, as long as the lock lists it."""
    engines.images.add_image("lab/db:16-alpine", digest=D141)
    plain = start(engines, project, "default", "1.3.0")
    engines.by_project["shop"].add_service("db", "lab/db:16-alpine")
    plain.reload()
    plain.lock()
    prod = environment_lab(project, "prod", engines)
    for name, image in (("agent", f"{REPO}:1.3.0"), ("gateway", "lab/gateway:1.0.0"),
                        ("db", "lab/db:16-alpine")):  # fmt: skip
        engines.by_project["shop-prod"].add_service(name, image, replicas=0)
    prod.reload()
    prod.up(None, {}, timeout=5)
    prod.reload()
    assert prod.current_image("db") == f"lab/db:16-alpine@{D141}"
    with pytest.raises(BadInput, match=r"^db 16-alpine: '16-alpine' is not a semver tag"):
        prod.up(None, {"db": "16-alpine"}, timeout=5)  # asked for: the policy has its say


def test_two_other_sections_with_two_digests_for_one_version_are_refused(
    engines: Engines, project: Project, tmp_path: Path
) -> None:
    def entry(digest: str) -> LockedService:
        return LockedService("1.4.1", f"{REPO}@{digest}", digest)

    sections = {"dev": {"agent": entry(D141)}, "staging": {"agent": entry(D130)}}
    write_lockfile(tmp_path / "agentlab.lock", LockFile(sections))
    prod = start(engines, project, "prod", "1.3.0")
    with pytest.raises(
        BadInput, match=r"lists agent 1\.4\.1 with 2 digests \(dev b{12}, staging a{12}\)"
    ):
        prod.plan_rollout("agent", "1.4.1")
    own = {**sections, "prod": {"agent": entry(D141)}}  # prod's own section decides
    write_lockfile(tmp_path / "agentlab.lock", LockFile(own))
    assert prod.plan_rollout("agent", "1.4.1").target.image == f"{REPO}:1.4.1@{D141}"


def test_promote_into_prod_copies_a_locked_digest_only(engines: Engines, project: Project) -> None:
    staging = start(engines, project, "staging", "1.4.1")
    prod = start(engines, project, "prod", "1.3.0")
    before = unchanged(prod)
    with pytest.raises(BadInput, match=r"there is no agentlab\.lock"):
        plan_promotion(staging, prod, "agent")
    prod.lock()  # what prod runs (1.3.0) is locked; staging's 1.4.1 is not
    with pytest.raises(BadInput, match=r"it does not list its digest b{12}") as refused:
        plan_promotion(staging, prod, "agent")
    assert "agentlab -e staging lock" in refused.value.hint
    assert unchanged(prod) == before
    staging.lock()
    promotion = plan_promotion(staging, prod, "agent")
    assert promotion.plan is not None
    assert promotion.plan.target.image == f"{REPO}:1.4.1@{D141}"  # the exact bytes
    result = run_promotion(prod, promotion)
    assert result is not None and result.outcome == "complete"
    assert {c.image_ref for c in engines.by_project["shop-prod"].of("agent")} == {
        f"{REPO}:1.4.1@{D141}"
    }


def test_promote_pins_the_digest_in_any_environment_and_the_tag_without_one(
    engines: Engines, project: Project
) -> None:
    staging = start(engines, project, "staging", "1.4.1")
    plain = start(engines, project, "default", "1.3.0")  # no lock required there
    plan = plan_promotion(staging, plain, "agent").plan
    assert plan is not None and plan.target.image == f"{REPO}:1.4.1@{D141}"
    engines.images.add_image(f"{REPO}:1.5.0")  # built here, never pushed: no digest
    engines.by_project["shop-staging"].add_service("agent", f"{REPO}:1.5.0", replicas=0)
    for container in engines.by_project["shop-staging"].of("agent"):
        engines.by_project["shop-staging"].remove_replica(container.id)
    engines.by_project["shop-staging"].start("agent", f"{REPO}:1.5.0", 1)
    plan = plan_promotion(staging, plain, "agent").plan
    assert plan is not None and plan.target.image == f"{REPO}:1.5.0"  # the tag path
    with pytest.raises(BadInput, match=r"the image has no digest \(never pushed\)"):
        plan_promotion(staging, start(engines, project, "prod", "1.3.0"), "agent")


def test_rollbacks_are_never_refused(engines: Engines, project: Project, tmp_path: Path) -> None:
    plain = start(engines, project, "default", "1.3.0")
    plain.lock()
    prod = start(engines, project, "prod", "1.3.0")
    assert prod.rollout("agent", "1.3.0").outcome == "complete"  # revision 1: 1.3.0 by digest
    locked = LockFile({"staging": {"agent": LockedService("1.4.1", f"{REPO}@{D141}", D141)}})
    write_lockfile(tmp_path / "agentlab.lock", locked)  # 1.3.0 is no longer locked anywhere
    assert prod.rollout("agent", "1.4.1").outcome == "complete"
    result = prod.rollback("agent", None)
    assert result.outcome == "complete"
    assert prod.current_image("agent") == f"{REPO}:1.3.0@{D130}"


def test_versions_mark_what_the_lock_does_not_list(engines: Engines, project: Project) -> None:
    staging = start(engines, project, "staging", "1.4.1")
    staging.lock()
    prod = start(engines, project, "prod", "1.3.0")
    rows = {row.version: row.blocked for row in prod.versions("agent")["agent"]}
    assert rows["1.4.1"] is None
    assert rows["1.3.0"] == "prod runs only locked digests: not in agentlab.lock"
    assert all(row.blocked is None for row in staging.versions("agent")["agent"])


def test_lock_of_an_image_never_pushed_names_the_environment(
    engines: Engines, tmp_path: Path
) -> None:
    settings = "primary: [agent]\nregistry: {port: 5000}\n" + ENVIRONMENTS
    staging = start(engines, load_project([str(write_project(tmp_path, settings))], "shop"),
                    "staging", "1.4.1")  # fmt: skip
    engines.images.add_image(f"{REPO}:1.5.0")  # never pushed: no digest to lock
    staging.rollout("agent", "1.5.0")
    staging.reload()
    with pytest.raises(BadInput) as refused:
        staging.lock()
    assert refused.value.hint == (
        "agentlab -e staging images push --service agent, then agentlab -e staging lock"
    )


def test_a_damaged_lock_leaves_versions_readable_and_is_refused_by_a_change(
    engines: Engines, project: Project, tmp_path: Path
) -> None:
    prod = start(engines, project, "prod", "1.3.0")
    (tmp_path / "agentlab.lock").write_text("lock_version: [not, a, lock\n")
    rows = {row.version: row.blocked for row in prod.versions("agent")["agent"]}
    assert rows["1.3.0"] == "prod runs only locked digests: not in agentlab.lock"
    with pytest.raises(BadInput) as refused:
        prod.rollout("agent", "1.4.1")
    assert "agentlab.lock is not valid YAML" in refused.value.message


def test_up_locked_in_prod_without_its_section_points_to_a_plain_up(
    engines: Engines, project: Project
) -> None:
    start(engines, project, "staging", "1.4.1").lock()
    prod = start(engines, project, "prod", "1.3.0")
    with pytest.raises(BadInput, match="has no section 'prod'") as refused:
        prod.up(None, {}, timeout=5, locked=True)
    assert refused.value.hint == (
        "write it: agentlab -e prod lock; agentlab -e prod up runs what another environment locked"
    )


def test_a_locked_image_not_here_is_fetched_by_the_operation_only(
    engines: Engines, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validation (a dry run, watch's check, a refused request) never pulls: the pull
    runs once every check passed, inside the rollout or `up`, under the project lock."""
    remote, d150 = "127.0.0.1:5000/lab/agent", f"sha256:{'e' * 64}"
    pulled: list[str] = []

    def pull(ref: str) -> None:
        pulled.append(ref)
        engines.images.add_image(f"{remote}:1.5.0", digest=d150)

    monkeypatch.setattr(registry_api, "manifest_digest", lambda *_a, **_k: d150)
    monkeypatch.setattr(registry_api, "pull", pull)
    needs = LockedService("1.5.0", f"{remote}@{d150}", d150, {REQUIRES: "gateway>=2"})
    write_lockfile(tmp_path / "agentlab.lock", LockFile({"staging": {"agent": needs}}))
    prod = start(engines, project, "prod", "1.3.0")
    for refused in (  # the lock's labels say what it requires: no pull to find out
        lambda: prod.plan_rollout("agent", "1.5.0"),
        lambda: prod.rollout("agent", "1.5.0"),
        lambda: prod.up(None, {"agent": "1.5.0"}, timeout=5),
    ):
        with pytest.raises(BadInput, match=r"agent 1\.5\.0 requires gateway>=2"):
            refused()
    assert pulled == []
    entry = LockedService("1.5.0", needs.image, d150)
    write_lockfile(tmp_path / "agentlab.lock", LockFile({"staging": {"agent": entry}}))
    planned = prod.plan_rollout("agent", "1.5.0")  # `rollout --dry-run`, watch's check
    assert planned.target.fetch == entry and pulled == []
    assert prod.rollout("agent", "1.5.0").outcome == "complete"
    assert pulled == [f"{remote}@{d150}"]
    assert prod.current_image("agent") == f"{remote}:1.5.0@{d150}"


def test_promote_from_an_environment_whose_tag_moved_says_so(
    engines: Engines, project: Project
) -> None:
    staging = start(engines, project, "staging", "1.4.1")
    staging.lock()
    prod = start(engines, project, "prod", "1.3.0")
    before = unchanged(prod)
    engines.images.add_image(f"{REPO}:1.4.1")  # rebuilt: the tag names other bytes now
    with pytest.raises(BadInput) as refused:
        plan_promotion(staging, prod, "agent")
    assert refused.value.message.startswith(f"agent: the tag {REPO}:1.4.1 moved: it names image ")
    assert refused.value.message.endswith(" that staging runs")
    assert refused.value.hint.startswith(
        "agentlab -e staging rollout agent --to 1.4.1 runs what the tag names now"
    )
    assert unchanged(prod) == before
