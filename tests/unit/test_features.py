"""What a compose file asks that an older engine cannot do: healthcheck.start_interval
needs Docker 25 (API 1.44); Docker 20.10 (1.41) makes Compose fail after its networks."""

from __future__ import annotations

from agentlab.engine.features import unsupported

CONFIG = {
    "services": {
        "web": {"healthcheck": {"interval": "5s", "start_interval": "1s"}},
        "db": {"healthcheck": {"interval": "5s"}},
        "job": {},
    }
}


def test_start_interval_on_an_engine_before_25_is_named() -> None:
    assert unsupported(CONFIG, "1.41") == [
        "web: healthcheck.start_interval needs Docker Engine 25 or later (API 1.44; this "
        "engine's is 1.41)"
    ]


def test_an_engine_that_runs_it_or_an_unknown_version_refuses_nothing() -> None:
    assert unsupported(CONFIG, "1.44") == []
    assert unsupported(CONFIG, "1.47") == []
    assert unsupported(CONFIG, "") == []
    assert unsupported({"services": {"db": {"healthcheck": {}}}}, "1.41") == []
