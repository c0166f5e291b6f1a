"""Archiving closed months of the audit chain, and verifying across the archive.

``osmanthus audit archive --through YYYY-MM --to DIR`` archives each closed month (UTC)
not archived yet, oldest first. For one month:

1. the ledger's row floors are read, then the ledger is verified (from the newest
   archive, as from a checkpoint, or from entry 1): nothing tampered is archived;
2. the month's entries, every column, are written to ``DIR/audit-YYYY-MM.jsonl.gz``
   (one JSON object per line, in order) under a temporary name, read back and their
   chain recomputed, then synced and renamed into place;
3. a checkpoint of the month's last entry is signed with the service's key (kind
   ``audit-archive-checkpoint/1``: the month, its first and last entries, the last one's
   hash, its ``rows`` the floors of step 1) and written beside the file as
   ``audit-YYYY-MM.json`` (the manifest, kind ``audit-archive/1``);
4. the ledger records the archive, appends an ``audit.archive`` entry and deletes the
   month's entries, in one transaction (:func:`osmanthus.ledger.detach_segment`).

A kill before step 4 commits leaves the ledger as it was (a complete file may be there:
running again writes it again); the file is never half there under its name.

``osmanthus audit verify`` then starts from the newest archive's signed checkpoint;
``--archive DIR`` recomputes the chain from entry 1 through the files and checks every
row against every entry. Either way each archive's checkpoint must carry a valid
signature of the service's key for exactly that entry and hash, so an archive row made
by hand (to delete entries) is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from osmanthus.audit import verify_entries
from osmanthus.durable import fsync_path, write_durably
from osmanthus.errors import AuditChainBroken, SignatureInvalid
from osmanthus.ledger import (
    Archived,
    LedgerCheck,
    Segment,
    archived_months,
    closed_month,
    detach_segment,
    first_unarchived_month,
    ledger_identity,
    next_segment,
    row_floors,
    segment_entries,
    snapshot,
    verify_ledger,
)
from osmanthus.ledger.archive_files import finish_redactions, read_segment, write_segment
from osmanthus.reports.checkpoint import checked_body
from osmanthus.reports.signing import PublicKey, SigningKey, sign_document

__all__ = ["ARCHIVE_KIND", "MANIFEST_KIND", "ArchivedMonth", "archive_through", "verify_all"]

MANIFEST_KIND = "audit-archive/1"
#: The signed checkpoint of an archived month's last entry: a kind of its own (not the
#: routine ``audit-checkpoint/1``, which the ledger keeps where the service's role can
#: read it), binding the month and its first and last entries.
ARCHIVE_KIND = "audit-archive-checkpoint/1"
_FOREVER = "9999-12-31"


@dataclass(frozen=True)
class ArchivedMonth:
    """What archiving one month did."""

    month: str
    first: int
    last: int
    path: Path
    size: int  # bytes of the file
    detached: int  # entries deleted from audit_log


def _months(first: str, through: str) -> list[str]:
    year, month = (int(part) for part in first.split("-"))
    found = []
    while f"{year:04d}-{month:02d}" <= through:
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def archive_through(
    engine: Engine,
    through: str,
    directory: Path,
    key: SigningKey,
    *,
    actor: str,
    now: dt.datetime | None = None,
) -> list[ArchivedMonth]:
    """Archive every closed month up to ``through`` (``YYYY-MM``) not archived yet."""
    closed_month(through)  # refuses anything but a YYYY-MM that has ended, before any work
    directory.mkdir(parents=True, exist_ok=True)
    finish_redactions(engine, directory)  # an erasure's, cut short before its files
    with snapshot(engine) as conn:
        first = first_unarchived_month(conn)
    if first is None:
        return []
    results = []
    for month in _months(first, through):
        result = _archive_month(engine, month, directory, key, actor=actor, now=now)
        if result is not None:
            results.append(result)
    return results


def _archive_month(
    engine: Engine,
    month: str,
    directory: Path,
    key: SigningKey,
    *,
    actor: str,
    now: dt.datetime | None,
) -> ArchivedMonth | None:
    with snapshot(engine) as conn:
        floors = row_floors(conn)
        identity = ledger_identity(conn)
        segment = next_segment(conn, month)
    if segment is None:
        return None
    verify_all(engine, lambda: [key.public])
    path = directory / segment.file_name
    size = _write_segment(engine, segment, path)
    at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    body = {
        "ledger": identity,
        "month": month,
        "first": segment.first,
        "seq": segment.last,
        "tree_size": segment.last,
        "hash": segment.hash,
        "rows": floors,
        "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "valid_from": at.date().isoformat(),
        "valid_until": _FOREVER,
    }
    document = sign_document(ARCHIVE_KIND, body, key)
    with path.open("rb") as written:
        digest = hashlib.file_digest(written, "sha256").hexdigest()
    manifest = {
        "kind": MANIFEST_KIND,
        "month": month,
        "first_seq": segment.first,
        "last_seq": segment.last,
        "entries": segment.entries,
        "file": segment.file_name,
        "file_sha256": digest,
        "checkpoint": document,
    }
    write_durably(
        directory / f"audit-{month}.json",
        json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
    )
    detached = detach_segment(engine, segment, document, actor=actor)
    return ArchivedMonth(month, segment.first, segment.last, path, size, detached)


def _write_segment(engine: Engine, segment: Segment, path: Path) -> int:
    """Write the segment's entries to ``path`` (temporary name, checked, synced, renamed)."""
    partial = path.with_name(path.name + ".partial")
    try:
        with snapshot(engine) as conn:
            write_segment(partial, segment_entries(conn, segment))
        head = verify_entries(
            read_segment(partial, first=segment.first, last=segment.last),
            start=(segment.first - 1, segment.start_hash),
        )
        if head.hash != segment.hash:
            raise AuditChainBroken(
                f"{partial}: ends with hash {head.hash[:16]}…, not the ledger's", seq=segment.last
            )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    fsync_path(path.parent)
    return path.stat().st_size


def verify_all(
    engine: Engine,
    public_keys: Callable[[], Iterable[PublicKey]],
    *,
    directory: Path | None = None,
    **options: Any,
) -> LedgerCheck:
    """:func:`osmanthus.ledger.verify_ledger` across the archived months (through their
    files in ``directory``, or from the newest archive's checkpoint), then every
    archive's signed checkpoint checked: signed by one of ``public_keys()`` (called only
    when there is an archive), for this ledger, stating the archived last entry and its
    hash."""

    def reader(archived: Archived) -> Iterator[dict[str, Any]]:
        assert directory is not None
        return read_segment(
            directory / archived.file_name, first=archived.first, last=archived.last
        )

    with snapshot(engine) as conn:
        before = archived_months(conn)
    checked = _check_archives(before, public_keys)  # first: the clearest message
    result = verify_ledger(engine, archive=None if directory is None else reader, **options)
    if result.archives != before:  # archived meanwhile
        _check_archives(result.archives, public_keys, checked)
    return result


def _check_archives(
    archives: list[Archived],
    public_keys: Callable[[], Iterable[PublicKey]],
    identity: str | None = None,
) -> str | None:
    """Each archive's checkpoint: signed by one of the keys, for one ledger, of the
    archive's last entry and hash; return the ledger's identity they state."""
    keys = list(public_keys()) if archives else []
    for archived in archives:
        try:
            body = checked_body(archived.document, keys, kind=ARCHIVE_KIND)
        except SignatureInvalid as exc:
            raise AuditChainBroken(
                f"audit archive {archived.month}: its checkpoint does not verify ({exc})",
                seq=archived.first,
            ) from None
        stated = (body.get("month"), body.get("first"), body["seq"], body["hash"])
        if stated != (archived.month, archived.first, archived.last, archived.hash):
            raise AuditChainBroken(
                f"audit archive {archived.month}: its signed checkpoint is of "
                f"{body.get('month')} entries {body.get('first')}–{body['seq']}, not of the "
                f"archive's entries {archived.first}–{archived.last}",
                seq=archived.first,
            )
        identity = identity or body["ledger"]
        if body["ledger"] != identity:
            raise AuditChainBroken(
                f"audit archive {archived.month}: its checkpoint is for another ledger",
                seq=archived.first,
            )
    return identity
