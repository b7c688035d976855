"""`registry:` in agentlab.yaml: the local OCI registry the lab runs and pushes to (opt-in).

registry:                  # or `registry: true` for the defaults
  image: registry:2        # default $AGENTLAB_REGISTRY_IMAGE, else agentlab/registry:offline
  port: 5000               # on 127.0.0.1 ($AGENTLAB_REGISTRY_PORT wins); 0 = a free port,
                           # chosen once and kept
  volume: agentlab-registry  # the named volume of its storage (kept by `down`)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from agentlab.common.errors import BadInput

OFFLINE_REGISTRY_IMAGE = "agentlab/registry:offline"
KEYS = ("image", "port", "volume")


@dataclass(frozen=True)
class RegistrySettings:
    """The lab's registry: its image (None: the environment's or the offline one), the host
    port on 127.0.0.1 (0: a free one) and its storage volume."""

    image: str | None = None
    port: int = 5000
    volume: str = "agentlab-registry"

    @property
    def image_ref(self) -> str:
        """The registry's image: as set, else $AGENTLAB_REGISTRY_IMAGE, else the offline one
        scripts/lib.sh builds from Debian's docker-registry package."""
        return self.image or os.environ.get("AGENTLAB_REGISTRY_IMAGE") or OFFLINE_REGISTRY_IMAGE

    @property
    def host_port(self) -> int:
        """The port asked for: $AGENTLAB_REGISTRY_PORT when set (tests use 0), else `port`."""
        given = os.environ.get("AGENTLAB_REGISTRY_PORT", "")
        return int(given) if given.isdigit() else self.port


def parse_registry(value: object, path: Path) -> RegistrySettings | None:
    """`registry:` as written: false/absent -> None, true/{} -> defaults, else checked keys."""
    if value is None or value is False:
        return None
    if value is True:
        return RegistrySettings()
    if not isinstance(value, dict):
        raise BadInput(f"{path}: 'registry' must be a mapping or true", hint="registry: {port: 0}")
    unknown = sorted(set(value) - set(KEYS))
    if unknown:
        raise BadInput(f"{path}: unknown registry key '{unknown[0]}'", hint=", ".join(KEYS))
    default = RegistrySettings()
    image, port = value.get("image", default.image), value.get("port", default.port)
    volume = value.get("volume", default.volume)
    if image is not None and (not isinstance(image, str) or not image):
        raise BadInput(f"{path}: registry.image must be an image name", hint="image: registry:2")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port < 65536:
        raise BadInput(f"{path}: registry.port must be a port number or 0",
                       hint="port: 5000 (0: a free port)")  # fmt: skip
    if not isinstance(volume, str) or not volume.replace("-", "").replace("_", "").isalnum():
        raise BadInput(f"{path}: registry.volume must be a volume name", hint="volume: data")
    return RegistrySettings(image, port, volume)
