"""Commands on the audit chain: verify, checkpoint and head.

Like every command module, this one imports what its commands use inside them, so that
``osmanthus score ID`` does not load the verifier or the signing code (DESIGN.md §5).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from osmanthus.cli.base import (
    OPERATOR,
    audit_app,
    cli_settings,
    domain_errors,
    open_ledger,
    out,
)

if TYPE_CHECKING:
    from osmanthus.ledger import LedgerCheck
    from osmanthus.reports.signing import PublicKey


@audit_app.command("verify")
@domain_errors
def audit_verify(
    ctx: typer.Context,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            metavar="FILE",
            help="A published signed checkpoint: prove it is a prefix of today's chain.",
        ),
    ] = None,
    since: Annotated[
        int | None,
        typer.Option(
            "--since",
            metavar="SEQ",
            help="Verify incrementally from the stored checkpoint at entry SEQ: the entries "
            "after it and the rows they wrote.",
        ),
    ] = None,
    head: Annotated[
        str | None,
        typer.Option(help="A published head hash: it must be an entry of today's chain."),
    ] = None,
    chain_only: Annotated[
        bool, typer.Option("--chain-only", help="Check the chain only, not the ledger's rows.")
    ] = False,
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive",
            metavar="DIR",
            help="The folder of the archived months' files: recompute the chain from entry "
            "1 through them (without it, verification starts from the newest archive's "
            "signed checkpoint).",
        ),
    ] = None,
) -> None:
    """Recompute the audit chain and check every ledger row against it; name the first
    entry or row that does not match. Never writes."""
    from osmanthus.reports import load_signing_key
    from osmanthus.reports.archive import verify_all
    from osmanthus.reports.checkpoint import (
        read_checkpoint,
        verify_checkpoint,
        verify_since_checkpoint,
    )

    settings = cli_settings(ctx)

    def public() -> list[PublicKey]:
        return [load_signing_key(settings, create=False).public]

    with open_ledger(ctx, policy=False) as ledger:
        if checkpoint is not None:
            result = verify_checkpoint(
                ledger.engine,
                read_checkpoint(checkpoint),
                public(),
                rows=not chain_only,
                archive=archive,
            )
        elif since is not None:
            result = verify_since_checkpoint(ledger.engine, since, public())
        else:
            result = verify_all(
                ledger.engine, public, directory=archive, expected_head=head, rows=not chain_only
            )
    _report(result, checkpoint)


def _report(result: LedgerCheck, checkpoint: Path | None) -> None:
    head = result.head
    if result.archives and not result.archive_read:
        newest = result.archives[-1]
        entries = (
            f"{head.count:,} entries after entry {newest.last:,} (archived through "
            f"{newest.month}; its signed checkpoint checked: give --archive DIR to "
            "recompute the archived months)"
        )
    else:
        entries = f"{head.count:,} entries" + (
            f" after entry {result.since}" if result.since else ""
        )
        if result.archives:
            entries += f", of which {len(result.archives)} archived months read from files"
    out.print(f"audit chain verified: {entries}, head {head.hash} at entry {head.seq}")
    if result.waiting:
        out.print(
            f"and {result.waiting:,} newer entries waiting in the audit overflow (written while "
            "the database's write lock was taken), chained on from it"
        )
    if result.rows:
        rows = ", ".join(f"{name} {count:,}" for name, count in result.rows.items() if count)
        out.print(f"ledger rows verified against the chain: {rows or 'none'}")
    if checkpoint is not None:
        out.print(f"checkpoint {checkpoint} is a prefix of this chain")


@audit_app.command("archive")
@domain_errors
def audit_archive(
    ctx: typer.Context,
    through: Annotated[
        str,
        typer.Option(
            "--through",
            metavar="YYYY-MM",
            help="Archive every closed month (UTC) up to this one that is not archived yet.",
        ),
    ],
    to: Annotated[
        Path | None,
        typer.Option(
            "--to",
            metavar="DIR",
            help="The folder to write the months' files to (default: the setting "
            "audit_archive_dir, where erasures look for them).",
        ),
    ] = None,
) -> None:
    """Export closed months of the audit chain to files, sign a checkpoint of each month's
    last entry, and detach the months from the ledger (the ledger is verified first)."""
    from osmanthus.reports import load_signing_key
    from osmanthus.reports.archive import archive_through

    settings = cli_settings(ctx)
    key = load_signing_key(settings)
    with open_ledger(ctx, policy=False) as ledger:
        folder = to or settings.resolved_audit_archive_dir
        done = archive_through(ledger.engine, through, folder, key, actor=str(OPERATOR))
    if not done:
        out.print(f"nothing to archive through {through}")
    for month in done:
        out.print(
            f"archived {month.month}: entries {month.first:,}–{month.last:,} "
            f"({month.detached:,} detached) to {month.path} ({month.size:,} bytes); "
            f"signed checkpoint of entry {month.last:,} in {month.path.parent}/"
            f"audit-{month.month}.json",
            markup=False,
            highlight=False,
        )


@audit_app.command("checkpoint")
@domain_errors
def audit_checkpoint(
    ctx: typer.Context,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write the checkpoint to FILE."),
    ] = None,
) -> None:
    """Sign a checkpoint of the chain (entry number, hash, tree size, time) to publish;
    the ledger keeps it too."""
    from osmanthus.reports import load_signing_key
    from osmanthus.reports.checkpoint import make_checkpoint

    settings = cli_settings(ctx)
    key = load_signing_key(settings)
    with open_ledger(ctx, policy=False) as ledger:
        document = make_checkpoint(ledger.engine, key)
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    if output is None:
        out.print(text, markup=False, highlight=False)
        return
    output.write_text(text + "\n", encoding="utf-8")
    body = document["body"]
    out.print(f"checkpoint of entry {body['seq']} ({body['hash']}) written to {output}")


@audit_app.command("head")
@domain_errors
def audit_head(ctx: typer.Context) -> None:
    """Print the newest entry's number and hash, to publish."""
    from osmanthus.ledger import chain_head

    with open_ledger(ctx, policy=False) as ledger:
        result = chain_head(ledger.engine)
    out.print(f"{result.seq} {result.hash}")
