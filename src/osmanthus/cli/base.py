"""What every command shares: the app and its groups, consoles, options, error handling."""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer
import typer.core

from osmanthus.core import Actor
from osmanthus.errors import OsmanthusError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from osmanthus.ledger import Ledger
    from osmanthus.settings import Settings

__all__ = ["app"]

app = typer.Typer(
    help="Osmanthus civic-credit points: ledger, scoring and audit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
audit_app = typer.Typer(help="Verify and publish the audit chain.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
policy_app = typer.Typer(help="Check a policy and run its authors' tests.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


class _SubmitByDefault(typer.core.TyperGroup):
    """``osmanthus intake FILE ...`` submits; ``osmanthus intake report BATCH`` reports."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["submit", *args]
        return super().resolve_command(ctx, args)


intake_app = typer.Typer(
    cls=_SubmitByDefault,
    help="Submit a department's batch file (osmanthus intake FILE --department D), "
    "or show a batch's report (osmanthus intake report BATCH).",
    no_args_is_help=True,
)
app.add_typer(intake_app, name="intake")
PolicyDir = Annotated[Path, typer.Argument(help="Policy directory (version files + tests/).")]


class _Console:
    """A rich console made on first use: a look-up that prints one number never loads
    rich (about 15 ms of a command's start)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._real: Console | None = None
        self._columns: str | None = None

    def real(self) -> Console:
        """The rich console itself (for rich's own objects, which take one); made again
        when ``COLUMNS`` changes, which rich reads only when a console is made (commands
        run in one process, as the tests run them, may each set their own width)."""
        columns = os.environ.get("COLUMNS")
        if self._real is None or columns != self._columns:
            from rich.console import Console

            self._real, self._columns = Console(**self._options), columns
        return self._real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


_out, _err = _Console(soft_wrap=True), _Console(stderr=True, soft_wrap=True)
out = cast("Console", _out)
err = cast("Console", _err)
OPERATOR = Actor("operator", "cli")
F = TypeVar("F", bound=Callable[..., Any])

IdArg = Annotated[str, typer.Argument(help="The resident's 18-character national ID number.")]
AsOf = Annotated[
    dt.datetime | None,
    typer.Option(formats=["%Y-%m-%d"], help="Legal date to score at (default: today)."),
]
KnownAt = Annotated[
    dt.datetime | None,
    typer.Option(
        formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"], help="Only records recorded by then (UTC)."
    ),
]
Purpose = Annotated[str, typer.Option(help="Why you read this resident's data (audited).")]


@app.callback()
def main(
    ctx: typer.Context,
    demo: Annotated[bool, typer.Option("--demo", help="Use the demo city (demo mode).")] = False,
) -> None:
    """Osmanthus: every point cites its legal basis; every access is audited."""
    ctx.obj = {"demo": demo}


def cli_settings(ctx: typer.Context, **overrides: Any) -> Settings:
    from osmanthus.settings import get_settings

    if ctx.obj and ctx.obj.get("demo"):
        overrides.setdefault("demo_mode", True)
    return get_settings(**overrides)


def domain_errors(func: F) -> F:
    """Print an Osmanthus error as one line and exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except OsmanthusError as exc:
            from rich.markup import escape

            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def open_ledger(
    ctx: typer.Context, *, ready: bool = True, policy: bool = True, **overrides: Any
) -> Iterator[Ledger]:
    """The ledger, under its approved policy (read from the ledger, never from the policy
    folder); ``policy=False`` for commands that score nothing (keys, audit, proposals)."""
    from osmanthus.ledger import Ledger
    from osmanthus.policy import PolicySet

    settings = cli_settings(ctx, **overrides)
    ledger = Ledger.from_settings(settings, PolicySet(()))
    engine = ledger.engine
    try:
        if ready:
            ledger.check_ready()
        if policy:
            ledger.use_policy(approved_or_refuse(ledger))
        yield ledger
    finally:
        engine.dispose()


def approved_or_refuse(ledger: Ledger) -> Any:
    """The ledger's approved policy; :class:`ConfigError` before the first approval."""
    from osmanthus.governance import policy_in_force

    return policy_in_force(ledger.engine)


def progress_bar() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err.real(),
        transient=True,
    )
