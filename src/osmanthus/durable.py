"""Durable files: synced before anything that depends on them is published.

A file is written under a temporary name, synced, renamed into place, and its folder
synced, so after a crash or a power cut the old file or the new one is there, never a
part of one; a folder is synced once files were created in it, so their names survive
too. The lake's part files and manifest, a run's scores and ``run.json``, and the
ledger's backups go through here.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

__all__ = ["fsync_path", "sync_tree", "write_durably"]


def fsync_path(path: Path) -> None:
    """Sync a file's data, or a folder's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically and durably."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    fsync_path(path.parent)


def sync_tree(root: Path, synced: Collection[Path] = ()) -> None:
    """Sync every file under ``root`` (but those ``synced`` already: hard links to files
    synced before, whose data a new name does not change), then every folder from the
    deepest up, then the folder holding ``root`` (which names it)."""
    folders = [root, *(p for p in root.rglob("*") if p.is_dir())]
    skip = set(synced)
    for path in root.rglob("*"):
        if path not in skip and path.is_file():
            fsync_path(path)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        fsync_path(folder)
    fsync_path(root.parent)
