"""A user's own Dockerfile, built as `docker compose build` would build it, on a real
engine: its own `ARG BASE_IMAGE` default kept when no base is chosen (agentlab put
python:3.12-slim in its place and refused the build), stage names in any case, and a
stage the target does not need whose image is not local (BuildKit skips it: agentlab
refused it as a missing base)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LabRun, base_image_env, lab_run

pytestmark = pytest.mark.engine

DOCKERFILE = """\
ARG BASE_IMAGE={base}
FROM agentlab-test/never-pulled:1 AS Docs
RUN echo docs
FROM ${{BASE_IMAGE}} AS Builder
ARG VERSION=dev
RUN echo "$VERSION" > /built
FROM ${{BASE_IMAGE}} AS runtime
COPY --from=builder /built /built
CMD ["python3", "-c", "import time; print(open('/built').read(), flush=True); time.sleep(3600)"]
FROM runtime AS test
RUN false
"""
COMPOSE = """\
services:
  app:
    build: {context: app, target: runtime}
    stop_signal: SIGKILL
"""


@pytest.fixture
def own_lab(tmp_path: Path) -> Iterator[LabRun]:
    (tmp_path / "app").mkdir()
    base = base_image_env()["AGENTLAB_BASE_IMAGE"]
    (tmp_path / "app" / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    for lab in lab_run(tmp_path / "compose.yaml", "t-dockerfile"):
        lab.env.pop("AGENTLAB_BASE_IMAGE", None)  # no base chosen: the Dockerfile's own
        yield lab


def test_a_users_dockerfile_builds_as_compose_builds_it(own_lab: LabRun) -> None:
    lab = own_lab
    assert lab.docker("image", "ls", "-q", "agentlab-test/never-pulled") == ""
    up = lab("up")
    assert up.code == 0, up.err
    built = lab("images", "build", "--service", "app", "--version", "1.1.0")
    assert built.code == 0, built.err
    rolled = lab("rollout", "app", "--to", "1.1.0")
    assert rolled.code == 0, rolled.out + rolled.err
    [name] = [n for n in lab.containers() if "-app-" in n]
    assert lab.docker("logs", name).strip() == "1.1.0"  # the builder stage's file, by name
    chosen = lab("images", "build", "--service", "app", "--version", "1.2.0",
                 "--base-image", "agentlab-test/absent:1")  # fmt: skip
    assert chosen.code == 2
    assert chosen.err.strip() == (
        "error: base image agentlab-test/absent:1 of app is not present locally (agentlab "
        "never pulls) (hint: docker pull agentlab-test/absent:1, or set AGENTLAB_BASE_IMAGE "
        "to a local image)"
    )
    # the version built is VERSION, over the build section's own, and the build says so
    own_version = COMPOSE.replace("target: runtime}", 'target: runtime, args: {VERSION: "3.2"}}')
    lab.compose_file.write_text(own_version)
    rolled = lab("rollout", "app", "--to", "1.3.0")  # built on demand
    assert rolled.code == 0, rolled.err
    assert "(VERSION=1.3.0, over the build section's 3.2)" in rolled.out + rolled.err
    [name] = [n for n in lab.containers() if "-app-" in n]
    assert lab.docker("logs", name).strip() == "1.3.0"
