"""Commands that copy the whole ledger: backup and restore (docs/deployment.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from osmanthus.cli.base import OPERATOR, app, cli_settings, domain_errors, open_ledger, out

if TYPE_CHECKING:
    from osmanthus.ledger import Ledger
    from osmanthus.ledger.backup import Backup


def _audited(ledger: Ledger, action: str, purpose: str, done: Backup) -> None:
    """The operator's backup or restore, in the audit chain (after the copy: not in it)."""
    ledger.record_access(
        actor=OPERATOR,
        action=action,
        purpose=purpose,
        detail={"file": done.path.name, "head_seq": done.head_seq},
    )


@app.command()
@domain_errors
def backup(
    ctx: typer.Context,
    dest: Annotated[Path, typer.Argument(help="The backup file to write (replaced when whole).")],
) -> None:
    """Back the ledger up to DEST while the service runs: SQLite's online backup, or
    pg_dump's custom format. DEST appears only once the copy is whole (audited)."""
    from osmanthus.ledger.backup import backup as back_up

    with open_ledger(ctx, policy=False) as ledger:
        done = back_up(ledger.engine, dest)
        _audited(ledger, "ledger.backup", "back the ledger up", done)
    out.print(
        f"backup written: {done.path} ({done.kind}, {done.size / 1e6:,.1f} MB, audit entries "
        f"up to {done.head_seq:,})",
        markup=False,
        highlight=False,
    )


@app.command()
@domain_errors
def restore(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="A file 'osmanthus backup' wrote.")],
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Overwrite the ledger the database holds (stop the service first)."
        ),
    ] = False,
) -> None:
    """Restore the ledger from SOURCE into the configured database, as one transaction;
    then check it with 'osmanthus audit verify' (and --checkpoint FILE)."""
    from osmanthus.ledger import connect
    from osmanthus.ledger.backup import restore as restore_from

    settings = cli_settings(ctx)
    engine = connect(settings.resolved_database_url)
    try:
        done = restore_from(engine, source, settings.key_bytes, replace=replace)
    finally:
        engine.dispose()
    with open_ledger(ctx, policy=False) as ledger:  # the restored ledger, and its key
        _audited(ledger, "ledger.restore", "restore the ledger from a backup", done)
    out.print(
        f"restored {done.path} ({done.kind}): audit entries up to {done.head_seq:,}; "
        "check it: osmanthus audit verify",
        markup=False,
        highlight=False,
    )
