"""The base images a Dockerfile needs, read without building it."""

from __future__ import annotations

from agentlab.lab.dockerfiles import base_images

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
