"""What `versions` prints: one line per version, the current one starred, and a service
with none says so (it printed a bare `ghost:`)."""

from __future__ import annotations

from agentlab.cli.render import status_table, table, versions_text
from agentlab.engine.model import Replica
from agentlab.lab.catalogue import VersionRow
from agentlab.lab.status import LabStatus, RunningElsewhere, ServiceStatus


def test_versions_star_the_current_one_and_say_when_there_is_none() -> None:
    rows = [
        VersionRow("1.0.0", False, True, "sha256:1", None, "", None),
        VersionRow("1.1.0", True, True, "sha256:2", None, "the fix", None),
    ]
    assert versions_text({"api": rows, "ghost": []}).splitlines() == [
        "api:",
        "    1.0.0        local",
        "  * 1.1.0        local      the fix",
        "ghost: no local or buildable version",
    ]


def test_a_table_too_wide_for_the_terminal_drops_the_optional_columns_empty_ones_first() -> None:
    headers = ["SERVICE", "CONTAINER", "VERSION", "IMAGE ID", "UPTIME"]
    rows = [["web", "shop-web-1", None, "0a1b2c3d4e5f", "5m"]]
    full = table(headers, rows)
    assert full.splitlines()[0].split() == ["SERVICE", "CONTAINER", "VERSION", "IMAGE", "ID",
                                            "UPTIME"]  # fmt: skip
    optional = ("IMAGE ID", "VERSION", "UPTIME")
    exact = max(len(line) for line in full.splitlines())
    assert table(headers, rows, width=exact, optional=optional) == full  # it fits: all stay
    one_less = table(headers, rows, width=exact - 1, optional=optional)
    assert "VERSION" not in one_less and "IMAGE ID" in one_less
    narrower = table(headers, rows, width=41, optional=optional)
    assert narrower.splitlines() == [
        "SERVICE  CONTAINER   IMAGE ID      UPTIME",  # VERSION said nothing: it went first
        "web      shop-web-1  0a1b2c3d4e5f  5m",
    ]
    assert table(headers, rows, width=10, optional=optional).splitlines()[0].split() == [
        "SERVICE",
        "CONTAINER",
    ]


def test_a_replica_out_of_the_name_is_said_to_be_in_a_rollout_under_way_or_interrupted() -> None:
    out = Replica(id="id1", name="shop-web-1", service="web", number=1, image_ref="web:1",
                  image_id="sha256:1", state="running", health="healthy", started_at=None,
                  named=False)  # fmt: skip
    service = ServiceStatus("web", True, "web:1", 1, [out], [])
    interrupted = status_table(LabStatus("shop", [service]))
    assert interrupted.endswith("(out of its name: a rollout was interrupted; rollout resume "
                                "or undo puts it right)")  # fmt: skip
    elsewhere = (RunningElsewhere("web", "1", "2", 4242),)
    running = status_table(LabStatus("shop", [service], elsewhere=elsewhere))
    assert running.endswith("(out of its name: a rollout of it is under way)")


def test_a_running_version_the_policy_refuses_is_said_to_run() -> None:
    """`* latest local blocked: ...` after a plain `up` read as if the running version
    were broken: it runs; a rollout to it is what the policy refuses."""
    why = "'latest' is not allowed by the project policy"
    rows = [VersionRow("1.0.0", False, True, "sha256:1", why, "", None),
            VersionRow("latest", True, True, "sha256:2", why, "", None)]  # fmt: skip
    assert versions_text({"web": rows}).splitlines()[1:] == [
        f"    1.0.0        local      blocked: {why}",
        f"  * latest       local      runs; a rollout to it is blocked: {why}",
    ]
