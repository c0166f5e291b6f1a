"""Commands on the audit chain: verify, checkpoint and head.

Like every command module, this one imports what its commands use inside them, so that
``osmanthus score ID`` does not load the verifier or the signing code (DESIGN.md §5).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from osmanthus.cli.base import audit_app, cli_settings, domain_errors, open_ledger, out

if TYPE_CHECKING:
    from osmanthus.ledger import LedgerCheck


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
) -> None:
    """Recompute the audit chain and check every ledger row against it; name the first
    entry or row that does not match. Never writes."""
    from osmanthus.ledger import verify_ledger
    from osmanthus.reports import load_signing_key
    from osmanthus.reports.checkpoint import (
        read_checkpoint,
        verify_checkpoint,
        verify_since_checkpoint,
    )

    settings = cli_settings(ctx)
    with open_ledger(ctx, policy=False) as ledger:
        if checkpoint is not None or since is not None:
            public = [load_signing_key(settings, create=False).public]
        if checkpoint is not None:
            result = verify_checkpoint(
                ledger.engine, read_checkpoint(checkpoint), public, rows=not chain_only
            )
        elif since is not None:
            result = verify_since_checkpoint(ledger.engine, since, public)
        else:
            result = verify_ledger(ledger.engine, expected_head=head, rows=not chain_only)
    _report(result, checkpoint)


def _report(result: LedgerCheck, checkpoint: Path | None) -> None:
    head = result.head
    entries = f"{head.count:,} entries" + (f" after entry {result.since}" if result.since else "")
    out.print(f"audit chain verified: {entries}, head {head.hash} at entry {head.seq}")
    if result.rows:
        rows = ", ".join(f"{name} {count:,}" for name, count in result.rows.items() if count)
        out.print(f"ledger rows verified against the chain: {rows or 'none'}")
    if checkpoint is not None:
        out.print(f"checkpoint {checkpoint} is a prefix of this chain")


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
