"""Exit codes and one-line errors when the engine, Compose or the input is wrong."""

from __future__ import annotations

import importlib.abc
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DEMO, SIGNAL_EXITS


def agentlab(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentlab", *args],
        capture_output=True,
        text=True,
        env=env or dict(os.environ),
        cwd=cwd,
        timeout=60,
        check=False,
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and "(hint: " in lines[0]
    assert "Traceback" not in done.stderr
    return lines[0]


def test_no_docker_cli_is_exit_3(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # an empty PATH: no docker anywhere
    done = agentlab("-f", str(DEMO), "-p", "t-nocli", "status", env=env)
    assert done.returncode == 3
    assert "docker CLI is not installed" in one_error_line(done)


@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI")
def test_unreachable_engine_is_exit_3(tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no.sock"}
    # watch printed `watch error` lines and exited 0 on no engine: a CI step passed
    for args in (["status"], ["up", "--version", "1.3.0"], ["down"], ["watch", "--duration", "1"]):
        done = agentlab("-f", str(DEMO), "-p", "t-noengine", *args, env=env)
        assert done.returncode == 3, done.stderr
        line = one_error_line(done)
        assert "Docker engine is not reachable" in line
        assert f"start the engine DOCKER_HOST=unix://{tmp_path}/no.sock names" in line


@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI")
def test_a_malformed_docker_host_is_exit_3_naming_it() -> None:
    env = {**os.environ, "DOCKER_HOST": "bogus://x"}
    for args in (["status", "--json"], ["up", "--version", "1.3.0"]):
        done = agentlab("-f", str(DEMO), "-p", "t-badhost", *args, env=env)
        assert done.returncode == 3, done.stderr
        assert "(hint: DOCKER_HOST=bogus://x is not an engine address" in one_error_line(done)


def test_missing_compose_v2_is_exit_3(tmp_path: Path) -> None:
    real = shutil.which("docker") or "/usr/bin/false"
    fake = tmp_path / "docker"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = compose ]; then\n'
        "  echo \"docker: 'compose' is not a docker command.\" >&2; exit 1\n"
        "fi\n"
        f'exec {real} "$@"\n'
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    done = agentlab("-f", str(DEMO), "-p", "t-nocompose", "status", env=env)
    assert done.returncode == 3
    assert "Compose v2 is not installed" in one_error_line(done)


@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI")
def test_malformed_compose_file_is_exit_2(tmp_path: Path) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  web:\n    image: [unclosed\n")
    done = agentlab("-f", str(compose), "status")
    assert done.returncode == 2
    assert "compose files do not load" in one_error_line(done)


def test_malformed_agentlab_yaml_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: a/web:1.0.0\n")
    (tmp_path / "agentlab.yaml").write_text("primary: [web\n")
    done = agentlab("-f", str(tmp_path / "compose.yaml"), "up")
    assert done.returncode == 2
    assert "agentlab.yaml" in one_error_line(done)
    assert not (tmp_path / ".agentlab").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--nope"],
        ["up", "--timeout", "soon"],
        ["frobnicate"],
        ["images"],
        ["-f", "/no/such/compose.yaml", "status"],
        ["weight", "web"],
        ["weight", "web", "150"],
    ],
)
def test_usage_errors_are_exit_2(args: list[str]) -> None:
    done = agentlab(*args)
    assert done.returncode == 2
    one_error_line(done)


def test_help_lists_exit_codes() -> None:
    done = agentlab("--help")
    assert done.returncode == 0
    assert "3 engine unavailable" in done.stdout
    assert "weight" in done.stdout and "promote" in done.stdout


@pytest.mark.parametrize(("sent", "code", "what"), SIGNAL_EXITS)
def test_a_signal_while_the_program_loads_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sent: signal.Signals,
    code: int,
    what: str,
) -> None:
    """Ctrl-C in the ~0.2 s agentlab's imports take printed Python's traceback (exit by
    the signal); SIGTERM then ended it without a word."""
    import agentlab.cli
    from agentlab import __main__ as program

    class SignalledMidImport(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, *_: object) -> None:
            if name == "agentlab.cli.main":
                os.kill(os.getpid(), sent)
                time.sleep(5)  # the handler raises before this ends

    monkeypatch.delitem(sys.modules, "agentlab.cli.main", raising=False)
    monkeypatch.delattr(agentlab.cli, "main", raising=False)
    monkeypatch.setattr(sys, "meta_path", [SignalledMidImport(), *sys.meta_path])
    assert program.main(["status"]) == code
    assert capsys.readouterr().err == f"error: {what} (hint: nothing was started; run it again)\n"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
