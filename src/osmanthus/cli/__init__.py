"""The ``osmanthus`` command: a thin shell over the library (parse, call, print).

Domain errors become one line on stderr and exit code 1. Each module registers its
commands on the one ``app`` and imports what a command needs inside it, so that a look-up
(``osmanthus score ID``) loads neither the web app nor the population engine.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

from osmanthus.cli import (
    audit,
    disputes,
    intake,
    notices,
    policy,
    population,
    profile,
    repair,
    reports,
    retention,
    scoring,
    web,
)
from osmanthus.cli.base import app

__all__ = [
    "app",
    "audit",
    "disputes",
    "intake",
    "main",
    "notices",
    "policy",
    "population",
    "profile",
    "repair",
    "reports",
    "retention",
    "scoring",
    "web",
]


def main(prog_name: str | None = None) -> None:
    """The console script. When the command has finished and nothing else runs (no
    thread, no child process), the process runs its exit handlers, flushes its output
    and leaves at once: the interpreter's tear-down of every loaded module (SQLAlchemy,
    pydantic, ...) would add about a tenth of a second to each command for nothing.
    Otherwise it exits the ordinary way, which waits for what is still running."""
    try:
        app(prog_name=prog_name)
    except SystemExit as exc:
        code = exc.code
        if not _alone() or not (code is None or isinstance(code, int)):
            raise
    else:  # pragma: no cover - typer always exits with SystemExit
        code = 0
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def _alone() -> bool:
    if threading.active_count() > 1:
        return False
    processes = sys.modules.get("multiprocessing")
    return processes is None or not processes.active_children()
