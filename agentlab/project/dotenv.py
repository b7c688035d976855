"""The `.env` file Compose reads beside the compose file, for the few variables that
decide which project agentlab works on (COMPOSE_PROJECT_NAME)."""

from __future__ import annotations

from pathlib import Path


def read_dotenv(directory: Path) -> dict[str, str]:
    """`KEY=VALUE` lines of `directory/.env` (an `export ` prefix, quotes and `#` comments
    as Compose reads them); empty when there is none."""
    try:
        text = (directory / ".env").read_text(encoding="utf-8")
    except (OSError, UnicodeError):
        return {}
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip().removeprefix("export ").strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = _value(value.strip())
    return values


def _value(text: str) -> str:
    """A value without its quotes, or without a trailing ` # comment` when unquoted."""
    if text[:1] in ("'", '"') and text.find(text[0], 1) > 0:
        return text[1 : text.find(text[0], 1)]
    return text.split(" #", 1)[0].strip()
