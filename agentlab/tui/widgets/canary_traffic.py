"""The canary panel's traffic lines: requests per second, 5xx and p99 of the stable and
the canary version side by side, over the last sample's window."""

from __future__ import annotations

import math

from rich.text import Text

from agentlab.lab.canary_meter import CanaryTraffic, VersionRate

LABEL_WIDTH = 12
COLUMN_WIDTH = 20


def _rps(rate: VersionRate) -> str:
    return f"{rate.rps:.1f}"


def _errors(rate: VersionRate) -> str:
    share = rate.error_rate
    return f"{rate.errors}" if share is None else f"{rate.errors} ({100 * share:.1f}%)"


def _p99(rate: VersionRate) -> str:
    if rate.p99 is None:
        return "-"
    return "> last bucket" if math.isinf(rate.p99) else f"<= {rate.p99 * 1000:g} ms"


ROWS = (("requests/s", _rps), ("5xx", _errors), ("p99", _p99))


def traffic_text(
    stable_version: str, canary_version: str, traffic: CanaryTraffic | None, note: str
) -> Text:
    """A heading row (stable, canary) and one row per figure; `note` when there is no
    window to show."""
    if traffic is None:
        return Text.assemble(("Traffic ", "bold"), (note or "measuring...", "dim"))
    stable_name = traffic.stable.version if traffic.stable else stable_version
    heading = Text.assemble(
        ("Traffic".ljust(LABEL_WIDTH), "bold"),
        (f"stable {stable_name}".rjust(COLUMN_WIDTH), "blue"),
        (f"canary {canary_version}".rjust(COLUMN_WIDTH), "magenta"),
        (f"  over {traffic.seconds:.1f}s", "dim"),
    )
    lines = [heading]
    for label, cell in ROWS:
        cells = [cell(side).rjust(COLUMN_WIDTH) if side else "-".rjust(COLUMN_WIDTH)
                 for side in (traffic.stable, traffic.canary)]  # fmt: skip
        lines.append(Text(f"  {label}".ljust(LABEL_WIDTH) + "".join(cells)))
    return Text("\n").join(lines)
