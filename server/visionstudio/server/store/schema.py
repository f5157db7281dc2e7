"""Versioned schema migrations, shipped as package data: ``migrations/<dialect>/NNNN_name.sql``.

Each backend records the versions it applied in a ``schema_migrations`` table and applies the
missing ones, in order, when it opens. A migration is never edited once released; a change is a
new file with the next number.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(dialect: str) -> list[Migration]:
    """The dialect's migrations in version order; numbered 1..n without gaps."""
    folder = resources.files(__package__) / "migrations" / dialect
    found = sorted(
        (
            Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8"))
            for entry in folder.iterdir()
            if (match := _FILE.match(entry.name))
        ),
        key=lambda m: m.version,
    )
    versions = [m.version for m in found]
    if not versions or versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"{dialect} migrations must be numbered 1..n, found {versions}")
    return found


def sqlite_statements(script: str) -> Iterator[str]:
    """Splits a script into statements, so that one migration runs inside one transaction.

    (sqlite3's executescript would commit first.) ``complete_statement`` knows about string
    literals, comments and trigger bodies, so a ``;`` inside them does not split.
    """
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            yield buffer
            buffer = ""
