"""What `versions` prints: one line per version, the current one starred, and a service
with none says so (it printed a bare `ghost:`)."""

from __future__ import annotations

from agentlab.cli.render import table, versions_text
from agentlab.lab.catalogue import VersionRow


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
    assert table(headers, rows, width=len(full.splitlines()[1])) == full  # it fits: all stay
    optional = ("IMAGE ID", "VERSION", "UPTIME")
    narrower = table(headers, rows, width=41, optional=optional)
    assert narrower.splitlines() == [
        "SERVICE  CONTAINER   IMAGE ID      UPTIME",  # VERSION said nothing: it went first
        "web      shop-web-1  0a1b2c3d4e5f  5m",
    ]
    assert table(headers, rows, width=10, optional=optional).splitlines()[0].split() == [
        "SERVICE",
        "CONTAINER",
    ]
