"""One open project: its files, name, state paths and engine, and what the lab's services
share about it (the compose model, managed services, pins, image look-ups), cached."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path

from agentlab.common.errors import AgentlabError, BadInput
from agentlab.common.imagerefs import fingerprint, split_image_ref
from agentlab.engine.model import ImageInfo, ServiceSpec
from agentlab.engine.protocol import Engine
from agentlab.project.config import SETTINGS_FILE
from agentlab.project.location import Project
from agentlab.project.profiles import profiles_of
from agentlab.state.directory import existing_directory
from agentlab.state.history import History
from agentlab.state.override import LAYER_PREFIX, read_override, read_pins, update_override

EngineFactory = Callable[[Project, str, Path], Engine]


def compose_engine(project: Project, name: str, override: Path) -> Engine:
    """The real engine: Compose on the local Docker endpoint."""
    from agentlab.engine.compose import ComposeEngine

    return ComposeEngine(project.compose_files, name, override)


class ProjectModel:
    """The state every lab service reads: call `reload()` after a pin or a file changed."""

    def __init__(
        self,
        project: Project,
        engine_factory: EngineFactory = compose_engine,
        engine: Engine | None = None,
    ) -> None:
        """`engine`: one already open on this project (a reopen keeps it), else a new one."""
        self.project = project
        self.engine_factory = engine_factory  # another environment's lab gets the same kind
        self.name = project.resolved_name()
        self.state_dir = project.state_dir(self.name)
        self.override_path = self.state_dir / "override.yaml"
        self.engine = engine or engine_factory(project, self.name, self.override_path)
        self._good_pins: dict[str, str] = {}
        self._images: dict[str, ImageInfo] = {}

    @cached_property
    def services(self) -> dict[str, ServiceSpec]:
        """The resolved compose model (user files plus override); raises BadInput if broken."""
        return self.engine.services()

    def reload(self) -> None:
        """Forget the cached compose model and image look-ups (after a pin or a file changed)."""
        self.__dict__.pop("services", None)
        self._images.clear()

    def image(self, ref: str) -> ImageInfo | None:
        """A local image; found ones are remembered until reload() (validation asks for the
        same ones several times), a missing one is asked again (it may be built meanwhile)."""
        found = self._images.get(ref) or self.engine.image(ref)
        if found is not None:
            self._images[ref] = found
        return found

    def forget_image(self, ref: str) -> None:
        """Look `ref` up again next time (it was just built)."""
        self._images.pop(ref, None)

    @property
    def managed(self) -> list[str]:
        """Services agentlab manages: from agentlab.yaml, else every service with an image
        (or a build section), but agentlab's own (its traffic layer)."""
        chosen = self.project.settings.managed
        if chosen is None:
            return [
                name
                for name, spec in self.services.items()
                if spec.image and not name.startswith(LAYER_PREFIX)
            ]
        unknown = [name for name in chosen if name not in self.services]
        if unknown:
            raise BadInput(
                f"agentlab.yaml manages unknown service '{unknown[0]}'",
                hint=f"services: {self._users_services()}",
            )
        return list(chosen)

    @property
    def primary(self) -> list[str]:
        """Services `--version` applies to: agentlab.yaml `primary`, else the managed services
        that have a build context (the ones you version), else every managed one."""
        if self.project.settings.primary:
            return list(self.project.settings.primary)
        built = [name for name in self.managed if self.services[name].build is not None]
        return built or self.managed

    def history(self) -> History:
        """The project's revisions and rollout journal (opened once, shared by threads)."""
        return self._history

    def has_history(self) -> bool:
        """Whether the history exists yet (reads that find none need not create it)."""
        return self._history_path.exists()

    def read_history(self) -> History | None:
        """The history for a read: None when the project has none yet (nothing is
        created); StateUnusable when the state directory is not usable."""
        return self.history() if existing_directory(self.state_dir) and self.has_history() else None

    @property
    def _history_path(self) -> Path:
        return self.state_dir / "state.db"

    @cached_property
    def _history(self) -> History:
        return History.open(self._history_path, keep=self.project.settings.history_keep)

    def service(self, name: str) -> ServiceSpec:
        """A managed service by name, or BadInput naming the ones that exist."""
        if name not in self.services:
            if profiles := profiles_of(self.project.compose_files, name):
                raise BadInput(
                    f"service '{name}' is in profile {', '.join(profiles)}, which is not active",
                    hint=f"COMPOSE_PROFILES={profiles[0]} agentlab up",
                )
            raise BadInput(f"unknown service '{name}'", hint=f"services: {self._users_services()}")
        if name not in self.managed:
            managed = ", ".join(self.managed) or "none"
            raise BadInput(
                f"service '{name}' is not managed by agentlab (managed: {managed})",
                hint=f"add it to 'managed:' in {self.project.directory / SETTINGS_FILE}",
            )
        return self.services[name]

    def _users_services(self) -> str:
        """The compose files' services, agentlab's own (traffic layer, registry) left out."""
        return ", ".join(name for name in self.services if not name.startswith(LAYER_PREFIX))

    def repository(self, service: str) -> str:
        """The image repository of a managed service (its tags are its versions)."""
        spec = self.service(service)
        entry = self.project.settings.catalogue.get(service)
        repo = spec.repository or (entry.image if entry else None)
        if spec.image is not None and "@" in spec.image:  # pinned by digest (up --locked,
            # promote): the registry's name, maybe another environment's; not where its
            # versions are built and tagged here
            own = self.engine.own_images().get(service)
            repo = split_image_ref(own)[0] if own else repo
        if repo is None:
            raise BadInput(
                f"service '{service}' has no image", hint="give it an image: in the compose file"
            )
        return repo

    def local_tags(self, service: str) -> list[ImageInfo]:
        return self.engine.images(self.repository(service))

    def pins(self, strict: bool = True) -> dict[str, str]:
        """The override's pins. A view (`strict=False`) keeps showing the last good ones
        while a hand edit of the override does not parse; anything that acts raises."""
        try:
            self._good_pins = read_pins(self.override_path)
        except BadInput:
            if strict:
                raise
        return self._good_pins

    def write_pins(self, pins: Mapping[str, str]) -> None:
        """Pin services to images in the override (callers hold the project lock), with the
        image the user's files give each now: an edit of the files after it wins."""
        if not pins:
            return
        try:
            own = self.engine.own_images()
        except AgentlabError:  # the files mid-edit (watch): the records already there stay
            own = {}
        over = {name: own[name] for name in pins if name in own}
        update_override(self.override_path, pins=pins, over=over)

    def edited_over_pins(self) -> dict[str, str]:
        """The pinned services whose image the user's files changed since agentlab pinned
        them: the image the files ask for now, by service."""
        override = read_override(self.override_path)
        recorded = {s: i for s, i in override.pinned_over.items() if s in override.pins}
        if not recorded:
            return {}
        own = self.engine.own_images()
        return {s: own[s] for s, was in recorded.items()
                if s in own and fingerprint(own[s]) != was}  # fmt: skip

    def current_image(self, service: str) -> str | None:
        """The image a service is pinned to (override), else the compose file's."""
        return self.pins().get(service) or self.services[service].image
