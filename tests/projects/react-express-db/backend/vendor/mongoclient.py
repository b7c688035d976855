"""A minimal client for the mongo stand-in (installed as node_modules/mongoclient.py)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import urlsplit

Doc = dict[str, Any]


class Collection:
    """One collection of the database named in a ``http://host:port/<db>`` URI."""

    def __init__(self, uri: str, name: str) -> None:
        parts = urlsplit(uri)
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.url = f"{self.base}{parts.path.rstrip('/')}/{name}"

    def ping(self) -> bool:
        """True when the server answers."""
        with urllib.request.urlopen(f"{self.base}/health", timeout=2) as r:
            return bool(json.load(r).get("ok") == 1)

    def find(self) -> list[Doc]:
        """All documents."""
        with urllib.request.urlopen(self.url, timeout=5) as r:
            docs: list[Doc] = json.load(r)
            return docs

    def insert_one(self, doc: Doc) -> Doc:
        """Insert a document; return it with its _id."""
        req = urllib.request.Request(
            self.url, json.dumps(doc).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            saved: Doc = json.load(r)
            return saved
