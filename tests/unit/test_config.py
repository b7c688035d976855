"""agentlab.yaml loading: defaults, the demo file, and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.common.errors import BadInput
from agentlab.project.config import load_settings, parse_settings

REPO = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO / "agentlab" / "demo"


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    assert settings.path is None
    assert settings.managed is None
    assert settings.primary == ()
    assert settings.history_keep == 10


def test_demo_lab_settings_load() -> None:
    settings = load_settings(DEMO_DIR)
    assert settings.project == "agentlab-demo"
    assert settings.primary == ("agent",)
    agent = settings.catalogue["agent"]
    assert agent.image == "agentlab-demo/agent"
    assert {"1.2.0", "1.3.0", "1.4.0", "2.0.0"} <= set(agent.versions)
    assert agent.versions["1.4.0"].args["BEHAVIOUR"] == "never-healthy"
    assert agent.context == DEMO_DIR.resolve()
    assert agent.dockerfile == str(DEMO_DIR / "agent" / "Dockerfile")
    assert set(settings.catalogue["collector"].versions) >= {"1.0.0", "2.0.0"}


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "agentlab.yaml").write_text("project: x\nprimary: [agent\n")
    with pytest.raises(BadInput) as info:
        load_settings(tmp_path)
    assert "line" in info.value.message
    assert "\n" not in info.value.one_line()


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"projct": "x"}, "unknown key 'projct'"),
        ({"project": 3}, "'project' must be a string"),
        ({"primary": [1]}, "'primary' must be a list"),
        ({"policy": {"allow_latest": "yes"}}, "policy.allow_latest must be true or false"),
        ({"policy": {"allow_everything": True}}, "unknown policy key"),
        ({"rollout": {"max_surges": 1}}, "unknown rollout key 'max_surges'"),
        ({"history": {"keep": 0}}, "history.keep must be a positive integer"),
        ({"catalogue": {"agent": {"image": "a"}}}, "needs 'image' and 'context'"),
        (
            {"catalogue": {"agent": {"image": "a", "context": "a", "versions": {"one": {}}}}},
            "malformed version 'one'",
        ),
        (["not", "a", "mapping"], "must be a mapping"),
    ],
)
def test_bad_settings_are_bad_input(doc: object, fragment: str, tmp_path: Path) -> None:
    with pytest.raises(BadInput) as info:
        parse_settings(doc, tmp_path / "agentlab.yaml")
    assert fragment in info.value.message
    assert info.value.hint


def test_rollout_defaults_pass_through(tmp_path: Path) -> None:
    settings = parse_settings(
        {"rollout": {"max_surge": "25%", "monitor": 3}}, tmp_path / "agentlab.yaml"
    )
    assert settings.rollout == {"max_surge": "25%", "monitor": 3}
