"""Find the line of a field in a TOML file, so that errors can name file, line and field.

``tomllib`` keeps no positions; this reads the text once more and records the line of
every table header and key. A field that is missing points at the table that should
hold it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from osmanthus.errors import PolicyError

__all__ = ["locate", "located_error"]

_ARRAY = re.compile(r"^\[\[\s*(.+?)\s*\]\]")
_TABLE = re.compile(r"^\[\s*(.+?)\s*\]")
_KEY = re.compile(
    r"""^((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)


def _split(dotted: str) -> tuple[str, ...]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", dotted)
    return tuple(part.strip("\"'") for part in parts)


def _entries(text: str) -> list[tuple[tuple[str, ...], int]]:
    entries: list[tuple[tuple[str, ...], int]] = []
    table: tuple[str, ...] = ()
    counters: dict[tuple[str, ...], int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if match := _ARRAY.match(stripped):
            key = _split(match.group(1))
            counters[key] = counters.get(key, -1) + 1
            table = (*key, str(counters[key]))
            entries.append((table, number))
        elif match := _TABLE.match(stripped):
            table = _split(match.group(1))
            entries.append((table, number))
        elif match := _KEY.match(stripped):
            entries.append(((*table, *_split(match.group(1))), number))
    return entries


def locate(text: str, path: Sequence[object]) -> int | None:
    """Line number (1-based) of ``path`` in the TOML ``text``, or of its nearest ancestor."""
    target = tuple(str(part) for part in path)
    entries = _entries(text)
    for length in range(len(target), 0, -1):
        for entry, number in entries:
            if entry == target[:length]:
                return number
    return None


def located_error(path: Path, text: str, where: Sequence[object], message: str) -> PolicyError:
    """``FILE:LINE: FIELD.PATH: MESSAGE`` as a :class:`PolicyError` (the line left out
    when none is found)."""
    line = locate(text, where)
    at = f":{line}" if line else ""
    return PolicyError(f"{path.name}{at}: {'.'.join(map(str, where))}: {message}")
