"""An environment's version policy, checked before anything is touched: `up`, `rollout`
(and what rolls out through it: the TUI, `watch`) and `promote` ask here about the version
they are about to run (prod refuses prereleases such as `1.4.1-dev.1`, `latest` and
non-semver tags by default). Rollbacks are not checked: a way back is never refused."""

from __future__ import annotations

from agentlab.common.errors import BadInput
from agentlab.lab.model import ProjectModel
from agentlab.versions import LATEST, try_version


def check(model: ProjectModel, service: str, tag: str) -> None:
    """BadInput when the lab's environment refuses to run `service` at `tag`."""
    environment = model.project.environment_settings
    if environment is None:
        return
    reason = environment.policy.refusal(environment.name, tag)
    if reason is None:
        return
    others = [
        name
        for name, other in model.project.settings.environments.items()
        if other.policy.refusal(name, tag) is None
    ]
    where = f"try it in {' or '.join(others)} first, " if others else ""
    raise BadInput(
        f"{service} {tag}: {reason} (its policy in agentlab.yaml)",
        hint=f"{where}roll {environment.name} to a release version",
    )


def check_requested(model: ProjectModel, service: str, spec: str) -> None:
    """Before resolving: an exact version or `latest` the environment refuses is refused
    whether or not it is local (a range is checked once resolved)."""
    text = spec.strip()
    if text == LATEST or try_version(text) is not None:
        check(model, service, text)
