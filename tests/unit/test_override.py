"""The agentlab-owned override: atomic writes and strict reads."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agentlab.common.errors import BadInput
from agentlab.common.imagerefs import fingerprint
from agentlab.state.override import Override, read_override, read_pins, update_override


def test_round_trip_and_pull_policy(tmp_path: Path) -> None:
    path = tmp_path / "state" / "override.yaml"
    assert read_pins(path) == {}
    update_override(path, pins={"agent": "lab/agent:1.3.0", "collector": "lab/collector:1.0.0"})
    assert read_pins(path) == {"agent": "lab/agent:1.3.0", "collector": "lab/collector:1.0.0"}
    assert "pull_policy: never" in path.read_text()
    assert [p.name for p in path.parent.iterdir()] == ["override.yaml"]  # no temp file left


def test_failed_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "override.yaml"
    update_override(path, pins={"agent": "lab/agent:1.2.0"})

    def broken_replace(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("agentlab.common.files.os.replace", broken_replace)
    with pytest.raises(OSError):
        update_override(path, pins={"agent": "lab/agent:9.9.9"})
    assert read_pins(path) == {"agent": "lab/agent:1.2.0"}
    assert [p.name for p in tmp_path.iterdir()] == ["override.yaml"]


def test_scales_and_pins_are_kept_apart_and_merged(tmp_path: Path) -> None:
    path = tmp_path / "override.yaml"
    update_override(path, pins={"agent": "lab/agent:1.3.0"})
    update_override(path, scales={"agent": 10, "worker": 2})
    update_override(path, pins={"agent": "lab/agent:1.4.0"})
    pins = {"agent": "lab/agent:1.4.0"}
    written = {"agent": fingerprint("lab/agent:1.4.0")}
    assert read_override(path) == Override(pins, {"agent": 10, "worker": 2}, written=written)
    doc = yaml.safe_load(path.read_text())["services"]
    # both keys, equal: Compose refuses `scale` and `deploy.replicas` that differ, and a
    # user's file may set either one
    assert doc["agent"]["scale"] == doc["agent"]["deploy"]["replicas"] == 10
    assert "image" not in doc["worker"]


@pytest.mark.parametrize(
    "text",
    [
        "services: [1, 2",
        "other: {}",
        "services:\n  agent: {}\n",
        "services:\n  agent: {image: 3}\n",
        "services:\n  agent: {scale: -1}\n",
        "services:\n  agent: {image: a:1, scale: many}\n",
    ],
)
def test_bad_override_is_bad_input(tmp_path: Path, text: str) -> None:
    path = tmp_path / "override.yaml"
    path.write_text(text)
    with pytest.raises(BadInput):
        read_pins(path)


def test_the_files_image_a_pin_was_written_over_survives_a_text_edit_of_the_pin(
    tmp_path: Path,
) -> None:
    """A user moves the pin by hand (`sed s/app:1.0.0/app:1.1.0/`, or every `1.0.0`):
    agentlab's record of the compose file's image must not move with it (it would read as
    an edit of the file)."""
    path = tmp_path / "override.yaml"
    update_override(path, pins={"app": "shop/app:1.0.0"}, over={"app": "shop/app:1.0.0"})
    for old, new in (("shop/app:1.0.0", "shop/app:1.1.0"), ("1.1.0", "1.2.0")):
        path.write_text(path.read_text().replace(old, new))
        override = read_override(path)
        assert override.pins == {"app": f"shop/app:{new.rpartition(':')[2]}"}
        assert override.pinned_over == {"app": fingerprint("shop/app:1.0.0")}
    digest = "sha256:" + "b" * 64
    update_override(path, pins={"db": f"pg@{digest}"}, over={"db": f"pg@{digest}"})
    assert read_override(path).pinned_over["db"] == fingerprint(f"pg:latest@{digest}")


def test_records_an_older_agentlab_kept_in_parts_still_read(tmp_path: Path) -> None:
    path = tmp_path / "override.yaml"
    path.write_text("services:\n  app: {image: 'shop/app:1.0.0'}\nx-agentlab:\n  written:\n"
                    "    app: {repository: shop/app, tag: 1.0.0}\n")  # fmt: skip
    assert read_override(path).pinned_by_agentlab("app")


def test_a_pin_is_agentlabs_until_edited_by_hand(tmp_path: Path) -> None:
    """The watcher tells a pin any agentlab process wrote from a user's edit by this."""
    path = tmp_path / "override.yaml"
    update_override(path, pins={"app": "shop/app:1.0.0", "db": "pg"})
    update_override(path, scales={"app": 2})  # another writer keeps the record
    assert read_override(path).pinned_by_agentlab("app")
    assert read_override(path).pinned_by_agentlab("db")  # `pg` is `pg:latest`
    path.write_text(path.read_text().replace("shop/app:1.0.0", "shop/app:1.1.0"))
    override = read_override(path)
    assert not override.pinned_by_agentlab("app") and not override.pinned_by_agentlab("web")
    path.write_text(path.read_text().replace("1.1.0", "1.0.0"))  # back: agentlab's again
    assert read_override(path).pinned_by_agentlab("app")
    path.write_text(path.read_text().replace("1.0.0", "1.3.0"))  # every 1.0.0 in the file
    assert not read_override(path).pinned_by_agentlab("app")
    update_override(path, pins={"app": "shop/app:1.2.0"})
    assert read_override(path).pinned_by_agentlab("app")
