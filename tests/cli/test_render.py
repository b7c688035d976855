"""What `versions` prints: one line per version, the current one starred, and a service
with none says so (it printed a bare `ghost:`)."""

from __future__ import annotations

from agentlab.cli.render import versions_text
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
