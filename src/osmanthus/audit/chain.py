"""The hash chain of the audit log: canonical encoding, hashing and verification.

Each entry's hash is ``SHA-256(prev_hash || 0x0A || canonical(entry))``, where
``canonical`` is JSON with sorted keys, no insignificant whitespace and UTF-8 text, over
the entry's fields ``seq, at, actor, action, subject, purpose, detail``. The first
entry's ``prev_hash`` is 64 zeros. Anyone who holds the published head hash can
recompute the chain and find the first entry that was edited, inserted or removed.

**Redactable entries (format 2).** An entry about a resident (one with a subject,
written since migration 0013) carries a random ``salt`` and commits to its subject and
detail through digests: in the canonical JSON, ``subject`` is
``"sha256:" + SHA-256(salt || 0x0A || subject)`` and ``detail`` is the same over the
detail's text, and the row claims the entry makes are a field of their own, ``sealed``
(their JSON text, or null). Erasing a resident redacts such an entry: its subject,
detail and salt are removed and the two digests kept (``subject_digest``,
``detail_digest``), so the chain still verifies and names nobody. The row claims stay.


This module knows nothing of databases: it takes entries as mappings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from osmanthus.errors import AuditChainBroken

__all__ = [
    "ENTRY_FIELDS",
    "GENESIS_HASH",
    "ChainHead",
    "canonical",
    "canonical_around_seq",
    "chain_hash",
    "commitments",
    "digest_of",
    "encode_detail",
    "entry_hash",
    "verify_entries",
]

GENESIS_HASH = "0" * 64
ENTRY_FIELDS = ("seq", "at", "actor", "action", "subject", "purpose", "detail")

# One encoder for every entry (json.dumps with options builds a new one per call).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# How that encoder writes a text value (ensure_ascii=False: quoted, only what JSON must
# escape escaped).
_quoted = encode_basestring


@dataclass(frozen=True)
class ChainHead:
    """The last entry of a verified chain: publish ``hash`` to make the log checkable."""

    seq: int
    hash: str
    count: int


def encode_detail(detail: Mapping[str, Any] | None) -> str:
    """The canonical JSON text of an entry's detail (stored as is, hashed as is)."""
    return _CANONICAL.encode(dict(detail or {}))


def digest_of(salt: str, text: str) -> str:
    """A format-2 entry's commitment to one of its personal fields (subject or detail)."""
    return "sha256:" + hashlib.sha256(f"{salt}\n{text}".encode()).hexdigest()


def commitments(entry: Mapping[str, Any]) -> tuple[str | None, str] | None:
    """A format-2 entry's ``(subject, detail)`` as its hash commits to them (the stored
    digests of a redacted entry); None for a format-1 entry."""
    if entry.get("subject_digest") is not None:
        return entry["subject_digest"], entry["detail_digest"]
    salt = entry.get("salt")
    if salt is None:
        return None
    subject = entry["subject"]
    return (None if subject is None else digest_of(salt, subject)), digest_of(salt, entry["detail"])


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The canonical bytes of an entry (only :data:`ENTRY_FIELDS` take part; a format-2
    entry with its commitments and its ``sealed`` claims)."""
    body = {name: entry[name] for name in ENTRY_FIELDS}
    committed = commitments(entry)
    if committed is not None:
        body["subject"], body["detail"] = committed
        body["sealed"] = entry.get("sealed")
    return _CANONICAL.encode(body).encode()


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """Hash of an entry chained to the previous entry's hash."""
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical(entry)).hexdigest()


# The fields in canonical order (sorted keys): seq comes between purpose and subject.
assert sorted(ENTRY_FIELDS) == ["action", "actor", "at", "detail", "purpose", "seq", "subject"]


def canonical_around_seq(
    *,
    action: str,
    actor: str,
    at: str,
    detail: str,
    purpose: str,
    subject: str | None,
    salt: str | None = None,
    sealed: str | None = None,
) -> tuple[bytes, bytes]:
    """The canonical bytes of an entry whose ``seq`` is not known yet, as the bytes
    before and after its digits: ``canonical(entry) == before + b"%d" % seq + after``
    (tests/audit check it for any text). A writer encodes an entry before it takes the
    chain's lock and only hashes it under the lock, once the head is known; the text
    fields are quoted as the canonical encoder quotes them, without building a dict."""
    if salt is not None:  # format 2: commitments, and the claims as a field of their own
        detail = digest_of(salt, detail)
        subject = None if subject is None else digest_of(salt, subject)
        claims = "null" if sealed is None else _quoted(sealed)
        before = (
            f'{{"action":{_quoted(action)},"actor":{_quoted(actor)},"at":{_quoted(at)},'
            f'"detail":{_quoted(detail)},"purpose":{_quoted(purpose)},"sealed":{claims},"seq":'
        )
    else:
        before = (
            f'{{"action":{_quoted(action)},"actor":{_quoted(actor)},"at":{_quoted(at)},'
            f'"detail":{_quoted(detail)},"purpose":{_quoted(purpose)},"seq":'
        )
    after = f',"subject":{"null" if subject is None else _quoted(subject)}}}'
    return before.encode(), after.encode()


def chain_hash(prev_hash: str, before: bytes, seq: int, after: bytes) -> str:
    """:func:`entry_hash` of an entry given as :func:`canonical_around_seq` parts."""
    data = b"%s\n%s%d%s" % (prev_hash.encode("ascii"), before, seq, after)
    return hashlib.sha256(data).hexdigest()


def verify_entries(
    entries: Iterable[Mapping[str, Any]],
    *,
    expected_head: str | None = None,
    start: tuple[int, str] = (0, GENESIS_HASH),
    anchor: tuple[int, str] | None = None,
) -> ChainHead:
    """Recompute the chain over ``entries`` (in ``seq`` order) and return its head.

    Raises :class:`AuditChainBroken` naming the first entry that does not match: a gap in
    the sequence (an entry removed), a wrong back-link, or a hash that does not recompute
    (an entry edited).

    ``start``: the entries follow the entry ``(seq, hash)`` (verification from a
    checkpoint) instead of the beginning. ``anchor``: a published ``(seq, hash)`` that must
    be an entry of this chain (a checkpoint: it stays true as the chain grows and fails
    after any rewrite of the past). ``expected_head``: a published hash that must be the
    hash of one of the entries (the same check, for a head published without its
    number).
    """
    prev_seq, prev_hash = start
    count = 0
    seen_head = expected_head is None or expected_head == prev_hash
    for entry in entries:
        seq = int(entry["seq"])
        if seq != prev_seq + 1:
            raise AuditChainBroken(
                f"audit entry {prev_seq + 1}: missing (the chain jumps from entry "
                f"{prev_seq} to entry {seq})",
                seq=prev_seq + 1,
            )
        if entry["prev_hash"] != prev_hash:
            raise AuditChainBroken(
                f"audit entry {seq}: prev_hash does not match the hash of entry {prev_seq}",
                seq=seq,
            )
        recomputed = entry_hash(prev_hash, entry)
        if entry["hash"] != recomputed:
            raise AuditChainBroken(
                f"audit entry {seq}: content does not match its hash (edited after writing)",
                seq=seq,
            )
        if anchor is not None and seq == anchor[0] and recomputed != anchor[1]:
            raise AuditChainBroken(
                f"audit entry {seq}: its hash {recomputed[:16]}… is not the published "
                f"{anchor[1][:16]}… (the chain was rewritten up to this entry)",
                seq=seq,
            )
        if recomputed == expected_head:
            seen_head = True
        prev_hash, prev_seq, count = recomputed, seq, count + 1
    if anchor is not None and anchor[0] > prev_seq:
        raise AuditChainBroken(
            f"audit chain ends at entry {prev_seq}, before the published entry {anchor[0]} "
            "(entries removed at the end)",
            seq=prev_seq + 1,
        )
    if not seen_head:
        assert expected_head is not None
        raise AuditChainBroken(
            f"audit chain has no entry with the published head {expected_head[:16]}… "
            f"(it ends at entry {prev_seq}: entries removed or replaced)",
            seq=prev_seq + 1,
        )
    return ChainHead(seq=prev_seq, hash=prev_hash, count=count)
