"""Commands on signed documents: signing-key (the public key to publish) and verify (a
credit report or an eligibility proof, offline: no database)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from osmanthus.cli.base import app, cli_settings, domain_errors, out
from osmanthus.errors import OsmanthusError, SignatureInvalid, ValidationError

if TYPE_CHECKING:  # signing and reports (cryptography, the ledger) load only when used
    from osmanthus.reports import PublicKey


@app.command("signing-key")
@domain_errors
def signing_key(
    ctx: typer.Context,
    pem: Annotated[bool, typer.Option("--pem", help="Print the public key as PEM.")] = False,
) -> None:
    """Print the city's public signing key (its id and base64), to publish."""
    from osmanthus.reports import load_signing_key

    key = load_signing_key(cli_settings(ctx))
    if pem:
        out.print(key.public.pem().rstrip("\n"), markup=False, highlight=False)
        return
    out.print(f"key id: {key.key_id}\npublic key: {key.public.base64}", highlight=False)


@app.command()
@domain_errors
def verify(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="A signed credit report (JSON) or a file holding a proof."
        ),
    ],
    public_key: Annotated[
        list[str] | None,
        typer.Option(
            "--public-key",
            metavar="KEY",
            help="The city's public key: a PEM file, a file holding its base64, or the "
            "base64 itself (repeat for several). Default with --demo: the demo key.",
        ),
    ] = None,
    national_id: Annotated[
        str | None,
        typer.Option(
            metavar="ID", help="The holder's ID number, from the card you see: must match."
        ),
    ] = None,
    on: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Check validity on this date (default today)."),
    ] = None,
) -> None:
    """Verify a signed credit report or eligibility proof offline (exit 1 if it fails)."""
    from osmanthus.reports.proof import PREFIX

    demo = bool(ctx.obj and ctx.obj.get("demo"))
    keys = _trusted_keys(ctx, public_key or [], demo)
    today = on.date() if on else None  # None: any date it is somewhere on Earth now
    text = _read(file)
    try:
        if text.startswith(PREFIX + "."):
            _verify_proof(text, keys, national_id, today)
        else:
            _verify_report(text, keys, national_id, today)
    except OsmanthusError as exc:  # name the file, keep the error's type and reason
        exc.args = (f"{file}: {exc}", *exc.args[1:])
        raise


def _trusted_keys(ctx: typer.Context, given: list[str], demo: bool) -> list[PublicKey]:
    from osmanthus.reports import demo_signing_key, load_signing_key

    keys = [_public_key(value) for value in given]
    demo_key = demo_signing_key().public
    if not demo and demo_key in keys:
        raise ValidationError(
            f"--public-key: {demo_key.key_id} is the public demo key, trusted only with --demo"
        )
    if keys:
        return keys
    if not demo:
        raise ValidationError(
            "--public-key: give the city's public key (osmanthus signing-key prints it), "
            "or use --demo for the demo city"
        )
    return [load_signing_key(cli_settings(ctx), create=False).public]


def _public_key(value: str) -> PublicKey:
    from osmanthus.reports import PublicKey

    path = Path(value)
    try:
        is_file = "\n" not in value and path.is_file()
    except OSError:  # a name too long for a file: the key itself
        is_file = False
    if is_file:
        try:
            return PublicKey.parse(path.read_text("utf-8"), source=f"--public-key {value}")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError(f"--public-key {value}: cannot be read ({exc})") from None
    return PublicKey.parse(value, source="--public-key")


def _read(file: Path) -> str:
    try:
        return file.read_text("utf-8").strip()
    except FileNotFoundError:
        raise ValidationError(f"{file}: no such file") from None
    except UnicodeDecodeError:
        raise SignatureInvalid(f"{file}: not UTF-8 text: neither a report nor a proof") from None
    except OSError as exc:
        raise ValidationError(f"{file}: cannot be read ({exc.strerror or exc})") from None


def _subject(matches: bool | None, national_id: str | None, *, bound: bool = True) -> str:
    from osmanthus.reports import mask_id

    if matches is None and not bound:
        return "subject: the document names no holder (it carries no binding to an ID number)"
    if matches is None:
        return "subject: not checked (give --national-id from the holder's ID card)"
    assert national_id is not None
    if not matches:
        raise SignatureInvalid(
            f"not issued to national ID {mask_id(national_id)}: the subject does not match",
            "subject",
        )
    return f"subject: matches {mask_id(national_id)}"


def _verify_proof(
    token: str, keys: list[PublicKey], national_id: str | None, today: dt.date | None
) -> None:
    from osmanthus.reports import verify_proof

    check = verify_proof(token, keys, national_id=national_id, today=today)
    subject = _subject(check.subject_matches, national_id)
    out.print(
        f"OK: eligibility proof signed by key {check.key_id}, valid {check.valid_from} to "
        f"{check.valid_until}",
        highlight=False,
    )
    verdict = "eligible" if check.eligible else "not eligible"
    out.print(f"perk {check.perk}: {verdict} until {check.valid_until}", highlight=False)
    out.print(f"issued {check.issued_at}", highlight=False)
    out.print(subject, highlight=False)
    out.print(
        "not checked offline: whether the proof was revoked since (a correction of the "
        "resident's records revokes it); the service's status list is "
        "GET /api/v1/proofs/revoked, and an online check (POST /api/v1/eligibility with "
        "the proof) consults it",
        highlight=False,
    )


def _verify_report(
    text: str, keys: list[PublicKey], national_id: str | None, today: dt.date | None
) -> None:
    from osmanthus.reports import read_credit_report
    from osmanthus.reports.proof import PREFIX

    try:
        envelope: Any = json.loads(text)
    except ValueError:
        raise SignatureInvalid(
            f"neither a signed credit report (JSON) nor a proof token ({PREFIX}.…)"
        ) from None
    check = read_credit_report(envelope, keys, national_id=national_id, today=today)
    if national_id is not None and check.subject_matches is None:
        raise SignatureInvalid("the report carries no subject binding to check --national-id")
    bound = bool(check.body.get("subject", {}).get("binding"))
    subject = _subject(check.subject_matches, national_id, bound=bound)
    out.print(
        f"OK: credit report signed by key {check.key_id}, valid {check.valid_from} to "
        f"{check.valid_until}",
        highlight=False,
    )
    score = "no score" if check.score is None else f"score {check.score}"
    grade = f", grade {check.grade}" if check.grade else ""
    out.print(
        f"{score}{grade}, {check.records} record(s), as of {check.as_of}; issued {check.issued_at}",
        highlight=False,
        markup=False,
    )
    out.print(subject, highlight=False)
