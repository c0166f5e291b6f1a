"""Commands of the web service: serve, and API keys (keys create, keys revoke); the demo
city's sign-ins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from osmanthus.cli.base import OPERATOR, app, cli_settings, domain_errors, open_ledger, out

if TYPE_CHECKING:  # the web app (FastAPI) loads only for the commands that use it
    from osmanthus.ledger import Ledger
    from osmanthus.settings import Settings

#: The demo residents' password (demo mode only; the demo city is public anyway).
DEMO_PASSWORD = "osmanthus-demo"

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
    """Run the web service: the resident portal, the department console, the provider
    API, the oversight dashboard, health, readiness and metrics."""
    from osmanthus.reports import load_signing_key

    settings = cli_settings(ctx)
    # Refuse here, in one line, what every worker would refuse at start-up (a worker that
    # dies at start-up is started again, over and over, by uvicorn's supervisor): a
    # ledger not set up or opened with another pseudonym key, a signing key not readable.
    load_signing_key(settings)
    with open_ledger(ctx):
        pass
    run_service(settings, host=host, port=port, workers=workers)


def run_service(settings: Settings, *, host: str, port: int, workers: int) -> None:
    """Serve the app until interrupted (:func:`osmanthus.web.serving.serve`)."""
    from osmanthus.web.serving import serve as serve_app

    serve_app(settings, host=host, port=port, workers=workers)


@keys_app.command("create")
@domain_errors
def keys_create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option(help="department, provider, operator or auditor.")],
    name: Annotated[str, typer.Option(help="Who holds the key (a bank, a department, ...).")],
    department: Annotated[
        str | None, typer.Option(help="The department code (department keys only).")
    ] = None,
    perk: Annotated[
        list[str] | None,
        typer.Option(help="A perk the provider provides (provider keys; repeat for more)."),
    ] = None,
) -> None:
    """Create an API key and print it once (the ledger keeps only its SHA-256). A
    provider key is bound to the perks it provides: it may ask about those only."""
    from osmanthus.errors import ValidationError
    from osmanthus.governance import approved_policy
    from osmanthus.web import create_key

    perks = perk or []
    with open_ledger(ctx, policy=False) as ledger:
        policy = approved_policy(ledger.engine) if perks else None
        offered = policy.latest.perks if policy is not None else None
        for code in perks:  # before the first approval, the codes are taken as given
            if offered is not None and code not in offered:
                raise ValidationError(
                    f"perk {code!r}: the policy offers no such perk (offered: {', '.join(offered)})"
                )
        key = create_key(ledger.engine, role=role, name=name, department=department, perks=perks)
    out.print(key, markup=False, highlight=False)


@keys_app.command("revoke")
@domain_errors
def keys_revoke(
    ctx: typer.Context, key: Annotated[str, typer.Argument(help="The key to revoke.")]
) -> None:
    """Revoke an API key."""
    from osmanthus.web import revoke_key

    with open_ledger(ctx, policy=False) as ledger:
        revoke_key(ledger.engine, key)
    out.print("revoked")


def create_demo_signins(
    ledger: Ledger, examples: dict[str, list[str]], path: Path
) -> dict[str, str]:
    """A password for one demo resident of each band and a key for each staff role,
    written to ``path`` (demo mode only) and returned."""
    from osmanthus.residents import set_password
    from osmanthus.web import create_key

    signins: dict[str, str] = {"password": DEMO_PASSWORD}
    for band, numbers in examples.items():
        if numbers:
            set_password(ledger, numbers[0], DEMO_PASSWORD, actor=OPERATOR)
            signins[f"resident_{band}"] = numbers[0]
    codes = sorted(ledger.policy.latest.departments)
    department = "traffic-police" if "traffic-police" in codes else codes[0]
    offered = ledger.policy.latest.perks
    loans = [p for p in offered if p == "civilization_loan"] or list(offered)[:1]
    for role, name, code, perks in (
        ("department", f"{department} (demo)", department, []),
        ("provider", "Bank of Suzhou (demo)", None, loans),
        ("operator", "Credit office (demo)", None, []),
        ("auditor", "Legal office (demo)", None, []),
        ("policy-approver", "Policy board (demo)", None, []),
        ("reviewer", "City ombudsman (demo)", None, []),
    ):
        signins[f"{role}_key"] = create_key(
            ledger.engine, role=role, name=name, department=code, perks=perks
        )
    signins["department"] = department
    path.write_text(json.dumps(signins, indent=1), encoding="utf-8")
    return signins


def print_signins(signins: dict[str, str], port: int | None) -> None:
    """A sign-in for each role of the demo city (plain lines: keys must not be cut);
    ``port`` None when the city is not being served."""
    where = (
        f"Sign in at http://127.0.0.1:{port}/signin"
        if port is not None
        else "Sign-ins, once served (.venv/bin/osmanthus --demo serve --port 8000)"
    )
    lines = [f"\n{where} (also kept in var/demo-signins.json):"]
    for key, value in signins.items():
        if key.startswith("resident_"):
            band = key.removeprefix("resident_")
            lines.append(f"  resident ({band} 100): ID {value}  password {signins['password']}")
    lines.append(f"  department ({signins['department']}): key {signins['department_key']}")
    for role in ("provider", "operator", "auditor", "policy-approver", "reviewer"):
        lines.append(f"  {role}: key {signins[f'{role}_key']}")
    out.print("\n".join(lines), markup=False, highlight=False)
