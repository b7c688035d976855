"""`registry:` in agentlab.yaml, and the override's registry service."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentlab.common.errors import BadInput
from agentlab.project.config import load_settings
from agentlab.project.registry_settings import (
    OFFLINE_REGISTRY_IMAGE,
    RegistrySettings,
    parse_registry,
)
from agentlab.state.override import (
    MovedPort,
    read_pins,
    registry_port,
    set_registry,
    set_traffic_layer,
    update_override,
)

REPO = Path(__file__).resolve().parents[2]
FILE = Path("agentlab.yaml")


def test_absent_or_false_is_off_true_is_defaults() -> None:
    assert parse_registry(None, FILE) is None
    assert parse_registry(False, FILE) is None
    assert parse_registry(True, FILE) == RegistrySettings()
    assert parse_registry({}, FILE) == RegistrySettings()


def test_the_demo_lab_has_one() -> None:
    settings = load_settings(REPO / "agentlab" / "demo").registry
    assert settings is not None and settings.port == 0  # a free port, chosen once


def test_image_and_port_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTLAB_REGISTRY_IMAGE", raising=False)
    monkeypatch.delenv("AGENTLAB_REGISTRY_PORT", raising=False)
    settings = parse_registry({"port": 0}, FILE)
    assert settings is not None
    assert settings.image_ref == OFFLINE_REGISTRY_IMAGE and settings.host_port == 0
    monkeypatch.setenv("AGENTLAB_REGISTRY_IMAGE", "registry:2")
    monkeypatch.setenv("AGENTLAB_REGISTRY_PORT", "5123")
    assert settings.image_ref == "registry:2" and settings.host_port == 5123
    assert RegistrySettings(image="mine:1").image_ref == "mine:1"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("yes", "must be a mapping or true"),
        ({"host": "x"}, "unknown registry key 'host'"),
        ({"port": 70000}, "registry.port"),
        ({"port": True}, "registry.port"),
        ({"image": ""}, "registry.image"),
        ({"volume": "a b"}, "registry.volume"),
    ],
)
def test_bad_values_are_bad_input(value: object, says: str) -> None:
    with pytest.raises(BadInput) as raised:
        parse_registry(value, FILE)
    assert says in raised.value.message


def test_registry_service_survives_pins_and_the_traffic_layer(tmp_path: Path) -> None:
    path = tmp_path / "override.yaml"
    service = {"image": "r:1", "ports": ["127.0.0.1:5123:5000"], "volumes": ["v:/var/lib/registry"]}
    set_registry(path, service, "v")
    update_override(path, pins={"agent": "a:1"})
    proxy = {"services": {"agentlab-proxy": {"image": "p:1"}}}
    set_traffic_layer(path, (MovedPort("agent", 80, None),), proxy)
    set_traffic_layer(path, (), {})
    assert registry_port(path) == 5123
    assert read_pins(path) == {"agent": "a:1"}  # the registry is no pin
    assert "v: {}" in path.read_text()
