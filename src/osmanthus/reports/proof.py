"""Eligibility proofs: a compact signed token a resident shows (as a QR code) and a
provider verifies offline, with the city's public key and the resident's ID card.

    OSM1.<base64url(canonical JSON payload)>.<base64url(Ed25519 signature)>

The signature covers the ASCII text ``OSM1.<payload>``. The payload holds exactly
``perk``, ``eligible`` (always true: a proof is issued only for a perk the resident
holds, so no one can be made to show a proof of *not* qualifying), ``issued_at`` (UTC),
``valid_from`` and ``valid_until`` (city dates, inclusive; the earlier of the perk's
validity and the proof's own life), ``key_id``, and the subject binding ``salt`` and
``subject`` (:mod:`osmanthus.reports.subject`). Never the score, the grade or the
records.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import segno

from osmanthus.errors import AccessDenied, ProofRefused, SignatureInvalid, ValidationError
from osmanthus.identity import validate
from osmanthus.ledger import Actor, Ledger
from osmanthus.ledger.rechecks import record_proof
from osmanthus.reports.signing import (
    PublicKey,
    SigningKey,
    canonical_json,
    check_window,
    trusted_key,
)
from osmanthus.reports.subject import SubjectBinding, bind_subject
from osmanthus.scoring.eligibility import check_eligibility

__all__ = ["PREFIX", "VALID_DAYS", "ProofCheck", "issue_proof", "proof_qr_svg", "verify_proof"]

PREFIX = "OSM1"
#: A proof is valid for at most this many days, counting the day of issue.
VALID_DAYS = 7
_FIELDS = {
    "perk",
    "eligible",
    "issued_at",
    "valid_from",
    "valid_until",
    "key_id",
    "salt",
    "subject",
}
_LONGEST = 2_000  # characters; a real token is about 430


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str, what: str) -> bytes:
    if not text or not all(c.isascii() and (c.isalnum() or c in "-_") for c in text):
        raise SignatureInvalid(f"malformed proof: the {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SignatureInvalid(f"malformed proof: the {what} is not base64url") from None


def issue_proof(
    ledger: Ledger,
    national_id: str,
    perk: str,
    *,
    key: SigningKey,
    actor: Actor,
    purpose: str,
    on: dt.date | None = None,
    valid_days: int = VALID_DAYS,
    pseudonym: str | None = None,
) -> str:
    """A signed proof that the resident with ``national_id`` holds ``perk``.

    The eligibility read is audited with ``actor`` and ``purpose``. With ``pseudonym``
    (a signed-in resident's), the number must be that resident's. Raises
    :class:`ProofRefused` when the resident is not eligible.
    """
    if valid_days < 1:
        raise ValidationError(f"valid_days: expected at least 1, found {valid_days}")
    number = validate(national_id, today=ledger.today())
    if pseudonym is not None and ledger.pseudonym_of(number) != pseudonym:
        raise AccessDenied("national ID: not the signed-in resident's number")
    decision = check_eligibility(ledger, number, perk, actor=actor, purpose=purpose, on=on)
    if not decision.eligible or decision.valid_until is None:
        raise ProofRefused(
            f"perk {perk!r}: not eligible on {decision.decided_on}; a proof is issued only "
            "for a perk the resident holds"
        )
    issued_on = ledger.today()
    valid_until = min(decision.valid_until, issued_on + dt.timedelta(days=valid_days - 1))
    if valid_until < issued_on:
        raise ProofRefused(
            f"perk {perk!r}: the eligibility decided on {decision.decided_on} ended on "
            f"{decision.valid_until}, before today"
        )
    binding = bind_subject(number)
    payload = {
        "perk": perk,
        "eligible": True,
        "issued_at": ledger.now().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "valid_from": issued_on.isoformat(),
        "valid_until": valid_until.isoformat(),
        "key_id": key.key_id,
        "salt": binding.salt,
        "subject": binding.digest,
    }
    signed = f"{PREFIX}.{_b64url(canonical_json(payload))}"
    record_proof(  # kept so that a later correction of the records can revoke it
        ledger.engine,
        salt=binding.salt,
        pseudonym=ledger.pseudonym_of(number),
        perk=perk,
        issued_at=ledger.now(),
        valid_until=valid_until,
        actor=actor,
    )
    return f"{signed}.{_b64url(key.sign(signed.encode('ascii')))}"


@dataclass(frozen=True)
class ProofCheck:
    """A verified proof: what the provider learns. ``subject_matches`` is None when no
    ID number was given to check against."""

    perk: str
    eligible: bool
    issued_at: str
    valid_from: dt.date
    valid_until: dt.date
    key_id: str
    subject_matches: bool | None
    salt: str = ""  # names the proof (the service's status list of revocations uses it)


def verify_proof(
    token: str,
    public_keys: Iterable[PublicKey],
    *,
    national_id: str | None = None,
    today: dt.date | None = None,
) -> ProofCheck:
    """Check a proof offline: signed by a trusted key, valid on ``today`` (default: this
    machine's date) and, with ``national_id``, whether it is that resident's.

    Raises :class:`SignatureInvalid` saying which check failed; a subject that does not
    match is reported in ``subject_matches``, not raised.
    """
    token = token.strip()
    if len(token) > _LONGEST:
        raise SignatureInvalid(f"malformed proof: longer than {_LONGEST} characters")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise SignatureInvalid(
            f"malformed proof: expected {PREFIX}.<payload>.<signature>, found {token[:12]!r}..."
        )
    raw = _unb64url(parts[1], "payload")
    signature = _unb64url(parts[2], "signature")
    payload = _payload(raw)
    key = trusted_key(payload["key_id"], public_keys)
    if len(signature) != 64 or not key.verifies(signature, f"{PREFIX}.{parts[1]}".encode()):
        raise SignatureInvalid(
            f"the signature does not match: the proof was altered or not signed by key "
            f"{payload['key_id']}",
            "signature",
        )
    valid_from = dt.date.fromisoformat(payload["valid_from"])
    valid_until = dt.date.fromisoformat(payload["valid_until"])
    check_window(valid_from, valid_until, today)
    matches = None
    if national_id is not None:
        matches = SubjectBinding(payload["salt"], payload["subject"]).matches(national_id)
    return ProofCheck(
        perk=payload["perk"],
        eligible=payload["eligible"],
        issued_at=payload["issued_at"],
        valid_from=valid_from,
        valid_until=valid_until,
        key_id=payload["key_id"],
        subject_matches=matches,
        salt=payload["salt"],
    )


def _payload(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SignatureInvalid("malformed proof: the payload is not JSON") from None
    if not isinstance(payload, dict) or set(payload) != _FIELDS:
        raise SignatureInvalid(
            f"malformed proof: the payload must hold exactly {', '.join(sorted(_FIELDS))}"
        )
    texts = _FIELDS - {"eligible"}
    if not all(isinstance(payload[name], str) for name in texts) or not isinstance(
        payload["eligible"], bool
    ):
        raise SignatureInvalid("malformed proof: a payload field has the wrong type")
    for name in ("valid_from", "valid_until"):
        try:
            dt.date.fromisoformat(payload[name])
        except ValueError:
            raise SignatureInvalid(f"malformed proof: {name} is not an ISO date") from None
    try:
        canonical = canonical_json(payload)
    except ValidationError:
        canonical = b""
    if canonical != raw:
        raise SignatureInvalid("malformed proof: the payload is not in canonical form")
    return payload


def proof_qr_svg(token: str, *, title: str = "Osmanthus eligibility proof", scale: int = 4) -> str:
    """The token as a QR code (SVG text, error correction level M, no XML declaration).
    A token of about 430 characters is a version-16 code: with the quiet zone 89 modules,
    356 pixels wide at ``scale`` 4, a phone screen's width."""
    qr = segno.make(token, error="m", micro=False)
    return str(qr.svg_inline(scale=scale, border=4, title=title, svgclass="proof-qr"))
