"""The files of the audit log's archived months, and erasure's reach into them.

Each archived month is one gzip file of JSON Lines, ``audit-YYYY-MM.jsonl.gz``: every
column of every entry, in ``seq`` order (:mod:`osmanthus.reports.archive` writes them).

An erasure redacts the entries about the erased person wherever they are: in
``audit_log``, and in the archive's files for the archived months. It finds the
archived ones through ``audit_subjects`` (kept for archived entries), confirms each in
the file (the same subject; for a record's retirement, a detail that names it), and
records their numbers in its entry like the others. Once its transaction has
committed, the files are rewritten with those entries redacted exactly as the ledger
redacts one (subject, detail and salt removed, their commitments kept, so the chain
still verifies): under a temporary name, synced, renamed. If that is cut short,
``osmanthus audit archive`` finishes it (:func:`finish_redactions`), and
``osmanthus audit verify --archive`` names an entry an erasure redacted that a file
still holds.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select

from osmanthus.audit import digest_of
from osmanthus.durable import fsync_path
from osmanthus.errors import AuditChainBroken, ConfigError, ValidationError
from osmanthus.ledger.archive import Archived, archived_months, carried
from osmanthus.ledger.audit_subjects import subject_key
from osmanthus.ledger.database import read_only
from osmanthus.ledger.schema import audit_subjects

__all__ = [
    "finish_redactions",
    "plan_redactions",
    "read_segment",
    "redact_in_files",
    "write_segment",
]


def read_segment(path: Path, *, first: int, last: int) -> Iterator[dict[str, Any]]:
    """The entries of an archive file, in order; one clear error naming the file (and
    line) when it cannot be read, is not an archive, or does not hold exactly the
    entries ``first``..``last``."""
    seq = first - 1
    try:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                try:
                    entry = json.loads(line)
                    seq = int(entry["seq"])
                except (ValueError, KeyError, TypeError):
                    raise ValidationError(f"{path} line {number}: not an audit entry") from None
                yield entry
    except OSError as exc:
        raise ValidationError(
            f"{path}: cannot be read as an audit archive ({exc.strerror or exc})"
        ) from None
    except (EOFError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path}: damaged ({exc})") from None
    if seq != last:
        raise AuditChainBroken(
            f"{path}: ends at entry {seq}, but its archive holds entries {first}–{last}",
            seq=seq + 1,
        )


def write_segment(path: Path, entries: Iterable[Mapping[str, Any]]) -> None:
    """Write ``entries`` to ``path`` (gzip JSON Lines, no timestamp in the header) and
    sync it; the caller names it."""
    with path.open("wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
            for entry in entries:
                out.write(json.dumps(entry, ensure_ascii=False, sort_keys=True).encode())
                out.write(b"\n")
        raw.flush()
        os.fsync(raw.fileno())


def _redacted(entry: dict[str, Any]) -> dict[str, Any]:
    """A format-2 entry as an erasure leaves it (its commitments kept)."""
    salt = entry["salt"]
    subject = entry["subject"]
    return {
        **entry,
        "subject": None,
        "detail": "{}",
        "salt": None,
        "subject_digest": None if subject is None else digest_of(salt, subject),
        "detail_digest": digest_of(salt, entry["detail"]),
    }


def _month_of(archives: list[Archived], seqs: set[int]) -> list[Archived]:
    return [a for a in archives if any(a.first <= seq <= a.last for seq in seqs)]


def plan_redactions(
    conn: Connection,
    directory: Path | None,
    subjects: Mapping[str, object],
    wanted: Callable[[dict[str, Any]], bool],
) -> set[int]:
    """The archived entries an erasure of ``subjects`` must redact: about one of them
    (``audit_subjects``, confirmed in the file), not redacted yet, and ``wanted``."""
    archives = archived_months(conn)
    if not archives or not subjects:
        return set()
    keys = sorted({subject_key(name) for name in subjects})
    candidates: set[int] = set()
    for start in range(0, len(keys), 500):
        candidates.update(
            int(seq)
            for seq in conn.execute(
                select(audit_subjects.c.seq).where(
                    audit_subjects.c.subject_key.in_(keys[start : start + 500]),
                    audit_subjects.c.seq <= archives[-1].last,
                )
            ).scalars()
        )
    months = _month_of(archives, candidates)
    if not months:
        return set()
    named = ", ".join(a.month for a in months)
    if directory is None:
        raise ConfigError(
            f"erasure: entries about this person are in the audit log's archived months "
            f"({named}): set 'audit_archive_dir' to the archive's folder"
        )
    chosen: set[int] = set()
    for archived in months:
        path = directory / archived.file_name
        if not path.exists():
            raise ConfigError(
                f"erasure: entries about this person are in the archived month "
                f"{archived.month}, whose file {path} is not there: put the archive's files "
                "back (settings: 'audit_archive_dir') and erase again"
            )
        for entry in read_segment(path, first=archived.first, last=archived.last):
            seq = int(entry["seq"])
            if (
                seq in candidates
                and entry.get("salt") is not None
                and entry["subject"] in subjects
                and wanted(entry)
            ):
                chosen.add(seq)
    return chosen


def redact_in_files(directory: Path, archives: list[Archived], seqs: set[int]) -> int:
    """Rewrite the archived months' files with the entries ``seqs`` redacted (those not
    redacted yet); return how many were."""
    done = 0
    for archived in _month_of(archives, seqs):
        path = directory / archived.file_name
        partial = path.with_name(path.name + ".redacting")
        changed: list[int] = []
        try:
            write_segment(partial, _rewritten(path, archived, seqs, changed))
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        if changed:
            os.replace(partial, path)
            fsync_path(path.parent)
            done += len(changed)
        else:
            partial.unlink()
    return done


def _rewritten(
    path: Path, archived: Archived, seqs: set[int], changed: list[int]
) -> Iterator[dict[str, Any]]:
    for entry in read_segment(path, first=archived.first, last=archived.last):
        if int(entry["seq"]) in seqs and entry.get("salt") is not None:
            changed.append(int(entry["seq"]))
            yield _redacted(entry)
        else:
            yield entry


def finish_redactions(engine: Engine, directory: Path) -> int:
    """Redact in the files every archived entry an erasure redacted (one cut short
    before its files were rewritten); return how many were."""
    from osmanthus.ledger.reclaims import erasure_facts

    with read_only(engine) as conn:
        archives = archived_months(conn)
        if not archives:
            return 0
        facts = erasure_facts(conn, archived=carried(conn).erasures)
    boundary = archives[-1].last
    pending = {seq for seq in facts.redacted if seq <= boundary}
    return redact_in_files(directory, archives, pending) if pending else 0
