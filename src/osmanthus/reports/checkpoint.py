"""Signed audit checkpoints: publish one, and prove later that it is a prefix of the chain.

A checkpoint is a signed document (:mod:`osmanthus.reports.signing`) of kind
``audit-checkpoint/1`` whose body states::

    {"ledger": <hash of the chain's first entry: which ledger>,
     "seq": 1234, "tree_size": 1234, "hash": <hash of entry 1234>,
     "rows": {"records": <highest record id>, ...},
     "at": "2026-12-06T10:00:00.000000Z", "valid_from": "2026-12-06", "valid_until": "9999-12-31"}

Verifying it against today's ledger recomputes the chain from the first entry and
requires entry ``seq`` to hash to ``hash``: that stays true after any amount of normal
growth (entries are only appended) and fails after any rewrite of an entry up to it, or
if the chain was cut before it. The rows are checked against the chain as by
``osmanthus audit verify``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from osmanthus.errors import AuditChainBroken, SignatureInvalid, ValidationError
from osmanthus.ledger import (
    LedgerCheck,
    chain_head,
    checkpoint_state,
    latest_checkpoint,
    ledger_identity,
    snapshot,
    store_checkpoint,
    stored_checkpoint,
)
from osmanthus.reports.signing import PublicKey, SigningKey, sign_document, verify_document

__all__ = [
    "KIND",
    "checked_body",
    "checkpoint_if_due",
    "make_checkpoint",
    "read_checkpoint",
    "verify_checkpoint",
    "verify_since_checkpoint",
]

KIND = "audit-checkpoint/1"
_FOREVER = "9999-12-31"


def make_checkpoint(
    engine: Engine, key: SigningKey, *, now: dt.datetime | None = None, store: bool = True
) -> dict[str, Any]:
    """Sign a checkpoint of the chain as it is now (and keep it in the ledger)."""
    state = checkpoint_state(engine)
    at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    body = {
        **state,
        "tree_size": state["seq"],
        "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "valid_from": at.date().isoformat(),
        "valid_until": _FOREVER,
    }
    document = sign_document(KIND, body, key)
    if store:
        store_checkpoint(engine, document)
    return document


def checkpoint_if_due(
    engine: Engine, key: SigningKey, *, every: dt.timedelta, now: dt.datetime | None = None
) -> dict[str, Any] | None:
    """The service's schedule: sign and keep a checkpoint when the newest kept one is
    older than ``every`` (or there is none) and the chain has grown since; else None.
    Reading the last one from the ledger makes the schedule hold across restarts and
    workers (two workers at the same moment keep at most one per entry)."""
    at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    latest = latest_checkpoint(engine)
    if latest is not None:
        body = latest["body"]
        kept_at = dt.datetime.strptime(body["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
        if at - kept_at < every or chain_head(engine).seq == int(body["seq"]):
            return None
    return make_checkpoint(engine, key, now=at)


def read_checkpoint(path: Path) -> Any:
    """The JSON of a checkpoint file; :class:`ValidationError` naming the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{path}: not a checkpoint (not JSON: {exc})") from None


def checked_body(
    document: Any, public_keys: Iterable[PublicKey], *, kind: str = KIND
) -> dict[str, Any]:
    """The body of a signed checkpoint of ``kind`` (its signature and window checked, in
    UTC days as it is signed); :class:`SignatureInvalid` otherwise."""
    today = dt.datetime.now(dt.UTC).date()
    verified = verify_document(document, public_keys, kind=kind, today=today)
    body = verified.body
    for name, expected in (("ledger", str), ("hash", str), ("seq", int), ("rows", dict)):
        if not isinstance(body.get(name), expected):
            raise SignatureInvalid(
                f"malformed checkpoint: body/{name} is missing or not {expected.__name__}"
            )
    return body


def verify_checkpoint(
    engine: Engine,
    document: Any,
    public_keys: Iterable[PublicKey],
    *,
    rows: bool = True,
    archive: Path | None = None,
) -> LedgerCheck:
    """Check the signature of a published checkpoint, that it belongs to this ledger, and
    that its entry is part of today's verified chain (and every row, with ``rows``);
    ``archive``: the folder of the archived months' files (:mod:`osmanthus.reports.archive`)."""
    from osmanthus.reports.archive import verify_all

    keys = list(public_keys)
    body = checked_body(document, keys)
    with snapshot(engine) as conn:
        identity = ledger_identity(conn)
    if identity != body["ledger"]:
        raise AuditChainBroken(
            f"the checkpoint is for another ledger (its first entry {body['ledger'][:16]}…, "
            f"this ledger's {identity[:16]}…)"
        )
    return verify_all(
        engine, lambda: keys, directory=archive, anchor=(body["seq"], body["hash"]), rows=rows
    )


def verify_since_checkpoint(
    engine: Engine, seq: int, public_keys: Iterable[PublicKey]
) -> LedgerCheck:
    """Verify incrementally from the checkpoint kept for entry ``seq`` (its signature
    checked first): the entries after it and the rows they wrote."""
    from osmanthus.reports.archive import verify_all

    keys = list(public_keys)
    body = checked_body(stored_checkpoint(engine, seq), keys)
    return verify_all(engine, lambda: keys, since=(body["seq"], body["hash"], body["rows"]))
