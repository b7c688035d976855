"""The base images a Dockerfile needs, read without building it."""

from __future__ import annotations

from agentlab.lab.dockerfiles import base_images, global_arg

MULTI_STAGE = """\
# syntax=docker/dockerfile:1.4
ARG BASE_IMAGE=python:3.12-slim
FROM --platform=$BUILDPLATFORM ${BASE_IMAGE} AS builder
COPY --from=tools:1 /bin/x /bin/x
RUN echo built \\
    && echo twice
FROM builder AS dev-envs
COPY --from=gloursdocker/docker / /
"""


def test_the_target_stage_and_those_before_it() -> None:
    assert base_images(MULTI_STAGE, {}, "builder") == [
        "docker/dockerfile:1.4",
        "python:3.12-slim",
        "tools:1",
    ]


def test_build_args_win_over_arg_defaults_and_later_stages_count_without_a_target() -> None:
    assert base_images(MULTI_STAGE, {"BASE_IMAGE": "lab/base:1"}, None) == [
        "docker/dockerfile:1.4",
        "lab/base:1",
        "tools:1",
        "gloursdocker/docker",
    ]


def test_stage_names_scratch_and_defaults_in_braces() -> None:
    text = "ARG B\nFROM ${B:-alpine:3} AS one\nFROM scratch\nCOPY --from=one /a /a\nFROM one\n"
    assert base_images(text, {}, None) == ["alpine:3"]
    assert base_images("FROM lab/app AS x\nCOPY --from=0 a b\n", {}, None) == ["lab/app"]


def test_stage_names_are_matched_in_any_case() -> None:
    """Docker compares stage names case-insensitively: `AS Builder` ... `--from=builder`."""
    text = "FROM lab/base AS Builder\nRUN x\nFROM lab/base\nCOPY --from=builder /x /x\n"
    assert base_images(text, {}, None, buildkit=True) == ["lab/base"]
    assert base_images(text, {}, None) == ["lab/base"]


DOCS_AND_RUNTIME = """\
FROM python:3.12-slim AS docs
RUN echo docs
FROM lab/tools AS tools
FROM lab/base AS runtime
COPY --from=tools /bin/t /bin/t
COPY --from=assets /a /a
FROM runtime AS test
"""


def test_buildkit_needs_only_the_stages_its_target_depends_on() -> None:
    """Compose builds with BuildKit, which skips the stages the target does not need (the
    docs stage here); the classic builder runs every stage up to the target; a build's
    additional context (`assets`) is no image."""
    kit = base_images(DOCS_AND_RUNTIME, {}, "runtime", buildkit=True, contexts=("assets",))
    assert kit == ["lab/tools", "lab/base"]
    assert base_images(DOCS_AND_RUNTIME, {}, None, buildkit=True, contexts=("assets",)) == [
        "lab/tools",
        "lab/base",
    ]
    classic = base_images(DOCS_AND_RUNTIME, {}, "runtime")
    assert classic == ["python:3.12-slim", "lab/tools", "lab/base", "assets"]


def test_a_global_arg_default() -> None:
    text = "ARG PY=3.12\nARG BASE_IMAGE=python:${PY}-slim\nARG BARE\nFROM $BASE_IMAGE\nARG LATE=1\n"
    assert global_arg(text, "BASE_IMAGE") == "python:${PY}-slim"
    assert global_arg(text, "BARE") == ""
    assert global_arg(text, "LATE") is None  # a stage's ARG: FROM cannot use it
    assert global_arg(text, "OTHER") is None


def test_quoted_defaults_several_args_on_a_line_and_mounts_from_a_stage() -> None:
    """`ARG BASE_IMAGE="python:3.12-slim"` gave the base with its quotes (refused as not
    local); a stage used only by `RUN --mount=...,from=` was dropped from the walk, so its
    image would have been pulled."""
    text = (
        'ARG GO=1.22 BASE_IMAGE="lab/base:1"\n'
        "FROM lab/golang:${GO} AS deps\n"
        "FROM ${BASE_IMAGE}\n"
        "RUN --mount=type=bind,from=deps,source=/go,target=/go true\n"
        "RUN --mount=type=cache,target=/root/.cache --mount=from=lab/tools:2,target=/t true\n"
    )
    assert global_arg(text, "BASE_IMAGE") == "lab/base:1"
    assert global_arg(text, "GO") == "1.22"
    assert base_images(text, {}, None, buildkit=True) == [
        "lab/golang:1.22",
        "lab/base:1",
        "lab/tools:2",
    ]
