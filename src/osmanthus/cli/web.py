"""Commands of the web service: serve, and API keys (keys create, keys revoke)."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from osmanthus.cli.base import app, cli_settings, domain_errors, open_ledger, out
from osmanthus.web import create_app, create_key, revoke_key

keys_app = typer.Typer(
    help="API keys of departments, providers, operators and auditors.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")


@app.command()
@domain_errors
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Run the web service (health, readiness, metrics, the provider API)."""
    import uvicorn

    settings = cli_settings(ctx)
    with open_ledger(ctx):  # refuse to start on a ledger that is not set up
        pass
    access = logging.getLogger("osmanthus.web.access")  # one JSON line per request
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, access_log=False)
        return
    if settings.demo_mode:  # each worker reads its settings from the environment
        os.environ["OSMANTHUS_DEMO_MODE"] = "true"
    uvicorn.run(
        "osmanthus.web.app:from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
    )


@keys_app.command("create")
@domain_errors
def keys_create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option(help="department, provider, operator or auditor.")],
    name: Annotated[str, typer.Option(help="Who holds the key (a bank, a department, ...).")],
    department: Annotated[
        str | None, typer.Option(help="The department code (department keys only).")
    ] = None,
) -> None:
    """Create an API key and print it once (the ledger keeps only its SHA-256)."""
    with open_ledger(ctx) as ledger:
        key = create_key(ledger.engine, role=role, name=name, department=department)
    out.print(key, markup=False, highlight=False)


@keys_app.command("revoke")
@domain_errors
def keys_revoke(
    ctx: typer.Context, key: Annotated[str, typer.Argument(help="The key to revoke.")]
) -> None:
    """Revoke an API key."""
    with open_ledger(ctx) as ledger:
        revoke_key(ledger.engine, key)
    out.print("revoked")
