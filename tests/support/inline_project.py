"""A service's build context written by a test: its app.py, and a Dockerfile that takes
the base image and the version as build arguments (nothing is pulled)."""

from __future__ import annotations

from pathlib import Path

DOCKERFILE = """\
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}
ARG VERSION=dev
ENV VERSION=${VERSION}
COPY app.py /app.py
CMD ["python3", "/app.py"]
"""


def write_context(directory: Path, app: str) -> None:
    """`directory` as a build context running `app` (its VERSION from the build)."""
    directory.mkdir()
    (directory / "app.py").write_text(app)
    (directory / "Dockerfile").write_text(DOCKERFILE)
