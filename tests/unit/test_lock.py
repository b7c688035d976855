from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentlab.common.errors import LockBusy
from agentlab.state.lock import lock_held, project_lock

HOLDER = """
import sys, time
from pathlib import Path
from agentlab.state.lock import project_lock
with project_lock(Path(sys.argv[1]), "rollout agent --to 1.4.0"):
    print("locked", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds the lock until it is killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "locked\n"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_lock_writes_holder_and_clears_on_release(tmp_path: Path) -> None:
    state_dir = tmp_path / "missing" / "state"
    assert not lock_held(state_dir)
    with project_lock(state_dir, "up --version v1.3.0"):
        info = json.loads((state_dir / "lock").read_text())
        assert info == {"pid": os.getpid(), "command": "up --version v1.3.0"}
        assert lock_held(state_dir)
    assert (state_dir / "lock").read_text() == ""
    assert not lock_held(state_dir)
    with project_lock(state_dir, "rollback"):
        assert json.loads((state_dir / "lock").read_text())["command"] == "rollback"


def test_busy_in_another_process_names_the_holder(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(LockBusy) as info, project_lock(tmp_path, "rollback"):
        pytest.fail("the lock was taken twice")
    err = info.value
    assert err.message == (
        "another agentlab command is changing this project "
        f"(rollout agent --to 1.4.0 pid {holder.pid})"
    )
    assert err.hint == "wait for it to finish, or stop it"
    assert err.exit_code == 1
    assert json.loads((tmp_path / "lock").read_text())["pid"] == holder.pid


def test_lock_is_released_when_the_holder_is_killed(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(LockBusy), project_lock(tmp_path, "rollback"):
        pass
    assert lock_held(tmp_path)
    holder.send_signal(signal.SIGKILL)
    assert holder.wait(timeout=10) == -signal.SIGKILL
    assert not lock_held(tmp_path)  # its record stays, its process is gone
    with project_lock(tmp_path, "rollback"):
        assert json.loads((tmp_path / "lock").read_text())["pid"] == os.getpid()


def test_nested_use_in_one_process_is_busy(tmp_path: Path) -> None:
    with project_lock(tmp_path, "up"):
        with pytest.raises(LockBusy) as info, project_lock(tmp_path, "rollout"):
            pass
        assert info.value.message.endswith(f"(up pid {os.getpid()})")


def test_released_when_the_block_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), project_lock(tmp_path, "up"):
        raise RuntimeError("boom")
    with project_lock(tmp_path, "up"):
        pass


@pytest.mark.parametrize("content", ["", "not json", "[1, 2]", '{"pid": 12}'])
def test_busy_with_unreadable_holder_info(tmp_path: Path, content: str) -> None:
    path = tmp_path / "lock"
    path.write_text(content)
    with path.open("rb") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(LockBusy) as info, project_lock(tmp_path, "up"):
            pass
    assert info.value.message == (
        "another agentlab command is changing this project (unknown command pid unknown)"
    )
    assert path.read_text() == content
