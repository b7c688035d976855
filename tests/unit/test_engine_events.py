"""The project's event stream asks Docker for lifecycle and health events only (health
probes' exec_* events would wake every wait once a second)."""

from __future__ import annotations

from pathlib import Path

from agentlab.engine.events import DockerEventStream, project_events


def test_the_stream_filters_the_project_and_its_lifecycle_events(cli: Path) -> None:
    stream = project_events("shop", since=12.5)
    assert list(stream) == []  # the stand-in prints nothing and exits 0: the stream ends
    stream.close()
    args = cli.read_text().split("\n")[:-1]
    filters = {args[i + 1] for i, arg in enumerate(args) if arg == "--filter"}
    assert {"type=container", "label=com.docker.compose.project=shop"} <= filters
    events = {f.removeprefix("event=") for f in filters if f.startswith("event=")}
    assert {"start", "die", "destroy", "health_status"} <= events
    assert not {e for e in events if e.startswith("exec")}
    assert args[args.index("--since") + 1] == "12.500000"


def test_a_stream_closed_from_another_thread_mid_read_ends_quietly() -> None:
    """`watch` ended (Ctrl-C, SIGTERM, --duration) while its drift thread read events: the
    closed pipe printed `ValueError: I/O operation on closed file` as a traceback."""
    stream = DockerEventStream(["sh", "-c", 'echo "{}"; exec sleep 30'])
    events = iter(stream)
    assert next(events).action == ""
    assert stream._process.stdout is not None
    stream._process.stdout.close()  # what close() does, from the thread that stops watch
    assert list(events) == []
    stream.close()
