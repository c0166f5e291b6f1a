"""Commands on the audit chain: verify and head."""

from __future__ import annotations

from typing import Annotated

import typer
import typer.core

from osmanthus.cli.base import (
    audit_app,
    domain_errors,
    open_ledger,
    out,
)
from osmanthus.ledger import chain_head, verify_chain


@audit_app.command("verify")
@domain_errors
def audit_verify(
    ctx: typer.Context,
    head: Annotated[str | None, typer.Option(help="Published head hash to check against.")] = None,
) -> None:
    """Recompute the audit chain; name the first entry that does not match."""
    with open_ledger(ctx) as ledger:
        result = verify_chain(ledger.engine, expected_head=head)
    out.print(
        f"audit chain verified: {result.count:,} entries, head {result.hash} at entry {result.seq}"
    )


@audit_app.command("head")
@domain_errors
def audit_head(ctx: typer.Context) -> None:
    """Print the newest entry's number and hash, to publish."""
    with open_ledger(ctx) as ledger:
        result = chain_head(ledger.engine)
    out.print(f"{result.seq} {result.hash}")
