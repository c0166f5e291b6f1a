"""The ``osmanthus`` command: a thin shell over the library (parse, call, print).

Domain errors become one line on stderr and exit code 1. Each module registers its
commands on the one ``app`` and imports what a command needs inside it, so that a look-up
(``osmanthus score ID``) loads neither the web app nor the population engine. The
console script goes further: for a look-up it registers only the scoring commands
(Typer builds a command for every function registered, about 30 ms for all of them);
``app`` here, and any other command, has them all.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

__all__ = ["MODULES", "app", "main"]

#: The modules that register commands, in the order ``--help`` lists them.
MODULES = (
    "audit",
    "backup",
    "disputes",
    "intake",
    "notices",
    "policy",
    "population",
    "profile",
    "repair",
    "reports",
    "retention",
    "scoring",
    "web",
)
#: Commands whose module alone is registered when the console script runs them.
_LOOK_UPS = {"score": "scoring", "explain": "scoring"}


def _registered(modules: tuple[str, ...] = MODULES) -> typer.Typer:
    for name in modules:
        importlib.import_module(f"osmanthus.cli.{name}")
    from osmanthus.cli.base import app

    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        return _registered()
    if name in MODULES:
        return importlib.import_module(f"osmanthus.cli.{name}")
    raise AttributeError(f"module 'osmanthus.cli' has no attribute {name!r}")


def _command(arguments: list[str]) -> str | None:
    """The command named on the command line (the first word that is not an option:
    the only global option, ``--demo``, takes no value)."""
    return next((a for a in arguments if not a.startswith("-")), None)


def main(prog_name: str | None = None) -> None:
    """The console script. When the command has finished and nothing else runs (no
    thread, no child process), the process runs its exit handlers, flushes its output
    and leaves at once: the interpreter's tear-down of every loaded module (SQLAlchemy,
    pydantic, ...) would add about a tenth of a second to each command for nothing.
    Otherwise it exits the ordinary way, which waits for what is still running."""
    command = _command(sys.argv[1:])
    look_up = _LOOK_UPS.get(command or "")
    if look_up:
        # pydantic looks for plugins among every installed package's entry points
        # (about 7 ms); a look-up uses none. An operator's own setting is kept.
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    app = _registered((look_up,) if look_up else MODULES)
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
