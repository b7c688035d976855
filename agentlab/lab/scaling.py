"""`agentlab scale`: more or fewer replicas of the image a service runs, with a rollout's
care (a new replica answers the name and gets traffic once ready; a surplus one leaves
both before it is stopped)."""

from __future__ import annotations

from contextlib import closing, suppress
from dataclasses import replace

from agentlab.common.errors import AgentlabError, BadInput, OperationFailed
from agentlab.common.events import ProgressSink
from agentlab.common.imagerefs import split_image_ref
from agentlab.lab import joiners
from agentlab.lab.model import ProjectModel
from agentlab.lab.rollout_io import failure_details
from agentlab.lab.rollout_plan import cautions_that_apply
from agentlab.lab.stopped import refuse_stopped
from agentlab.lab.traffic_layer import TrafficLayer
from agentlab.lab.unfinished import refuse_over_unfinished
from agentlab.rollout.events import JoinersRecreated, ReplicaCounts, ReplicaEvent, RolloutEvent
from agentlab.rollout.journal import NoJournal
from agentlab.rollout.runner import RolloutRunner
from agentlab.rollout.settings import RolloutSettings
from agentlab.state.lock import project_lock
from agentlab.state.override import update_override

# The most replicas `scale` runs of one service: a lab on one engine, not a cluster (100,000
# once had Compose create containers for minutes, left there when it gave up).
MAX_REPLICAS = 100


def scale(
    model: ProjectModel,
    layer: TrafficLayer,
    service: str,
    replicas: int,
    settings: RolloutSettings,
    progress: ProgressSink,
) -> None:
    """Run `replicas` containers of a service at the image it runs (`settings`: the
    service's rollout settings, for the timeout and the deregistration delay). The count
    is kept in the override, so later rollouts and `up` keep it. OperationFailed when a
    new replica fails (the others stay)."""
    model.engine.prepare_to_mutate()
    spec = model.service(service)
    if replicas < 0:
        raise BadInput("replicas must be 0 or more", hint=f"agentlab scale {service} 3")
    if replicas > MAX_REPLICAS:
        raise BadInput(
            f"replicas must be at most {MAX_REPLICAS}, not {replicas}: one engine runs the lab",
            hint=f"agentlab scale {service} 3",
        )
    if spec.job:  # it exits 0 once done: no count of running replicas to keep
        raise BadInput(
            f"{service} is a job (a service waits for it to complete): scale keeps replicas "
            "running",
            hint="agentlab up runs it again",
        )
    if replicas > 1 and (reasons := spec.surge_blockers() or cautions_that_apply(spec)):
        raise BadInput(  # a caution: its one container alone should write its volume
            f"{service} cannot run {replicas} replicas: " + "; ".join(reasons),
            hint="scale it to 1",
        )
    image = model.current_image(service)
    if image is None:
        raise BadInput(f"service '{service}' has no image", hint="agentlab up first")
    settings = replace(
        settings, strategy="rolling", max_surge="100%", max_unavailable="0", parallelism=None,
        order=None, failure_action="pause", monitor=0.0,
    )  # fmt: skip
    if model.has_history():  # its replicas are the rollout's to resume or undo
        refuse_over_unfinished(model.history(), service)
    model.engine.check()
    refuse_stopped(model, service, replicas)
    with (
        project_lock(model.state_dir, f"scale {service}"),
        closing(model.engine.changes()) as feed,
    ):
        layer.sync()
        runner = RolloutRunner(
            model.engine, replace(spec, replicas=replicas), settings, lambda _: None,
            lambda event: _progress(event, progress), NoJournal(), "scale", feed=feed,
            gate=layer.gate(service),
        )  # fmt: skip
        before = {r.id for r in model.engine.replicas(service)}
        try:
            result = runner.converge(image, split_image_ref(image)[1])
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM: back as it was, not half-scaled
            _put_back(model, layer, service, before)
            raise
        update_override(model.override_path, scales={service: replicas})
        if recreated := joiners.rejoin(model, service):  # on the model read before: no reload
            progress(JoinersRecreated(service, recreated).line().strip())
        model.reload()
    if result.outcome != "complete":
        raise OperationFailed(
            f"scale {service}: {result.message}",
            hint=f"agentlab status; agentlab logs {service}-N shows why",
            details=failure_details(result),
        )


def _put_back(model: ProjectModel, layer: TrafficLayer, service: str, before: set[str]) -> None:
    """After a scale cut short: the replicas it started leave the name and are stopped
    and removed, and the removal of those it had taken out is finished (their stop may be
    under way in the engine); `up` starts again what the saved count, unchanged, asks
    for. Errors give way to the interrupt on its way out."""
    grace = model.services[service].stop_grace_period
    with suppress(AgentlabError):
        for replica in model.engine.replicas(service):
            leaving = replica.id in before and replica.named is False
            if replica.id in before and not leaving:
                continue
            with suppress(AgentlabError):
                if replica.running and replica.named:
                    model.engine.leave_name(replica.id, service)
                if replica.running:
                    model.engine.stop_replica(replica.id, grace)
                model.engine.remove_replica(replica.id)
        layer.sync()


def _progress(event: RolloutEvent, progress: ProgressSink) -> None:
    """A scale's progress lines: what happens to replicas, and ready/total."""
    if isinstance(event, ReplicaCounts):
        progress(f"{event.ready}/{event.total} replicas ready")
    elif isinstance(event, ReplicaEvent):
        progress(event.line().strip())
