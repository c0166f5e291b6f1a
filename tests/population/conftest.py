"""Fixtures of the population tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def disk_events(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Path]]]:
    """Every ``os.fsync`` (the path synced) and ``os.replace`` (the path replaced), in
    order, while the test runs (Linux: paths from /proc/self/fd)."""
    events: list[tuple[str, Path]] = []
    fsync, replace = os.fsync, os.replace

    def fsync_spy(fd: int) -> None:
        events.append(("sync", Path(os.readlink(f"/proc/self/fd/{fd}"))))
        fsync(fd)

    def replace_spy(src: Any, dst: Any) -> None:
        replace(src, dst)
        events.append(("replace", Path(dst).resolve()))

    monkeypatch.setattr(os, "fsync", fsync_spy)
    monkeypatch.setattr(os, "replace", replace_spy)
    yield events
