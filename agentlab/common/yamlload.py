"""YAML reading through libyaml's parser when PyYAML has it (7x the pure-Python one: a
command reads agentlab.yaml and the compose files more than once)."""

from __future__ import annotations

from typing import Any

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str | bytes) -> Any:
    """As yaml.safe_load."""
    return yaml.load(text, Loader=_Loader)
