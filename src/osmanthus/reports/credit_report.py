"""The signed credit report: a resident's score, the records it may show with their legal
basis (:mod:`osmanthus.reports.disclosure`: those left out are counted by rule), the
perks, and the audit chain's head when it was issued.

The JSON envelope (:mod:`osmanthus.reports.signing`, kind ``credit-report/1``) is the one
source: :func:`report_lines` prints it as text and the web layer renders it as a page.
The report names the resident by a masked ID number, a short pseudonym reference and a
subject binding (:mod:`osmanthus.reports.subject`), never by the number in clear.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from osmanthus.errors import SignatureInvalid, ValidationError
from osmanthus.identity import validate
from osmanthus.ledger import Actor, Ledger, ResidentInfo, StoredRecord, chain_head
from osmanthus.reports.disclosure import RULES, Disclosure, disclose
from osmanthus.reports.signing import PublicKey, SigningKey, sign_document, verify_document
from osmanthus.reports.subject import SubjectBinding, bind_subject, mask_id
from osmanthus.scoring import Explanation, RecordLine, explain

__all__ = [
    "KIND",
    "VALID_DAYS",
    "ReportCheck",
    "credit_report",
    "credit_report_of",
    "read_credit_report",
    "report_lines",
]

KIND = "credit-report/1"
#: A report is valid for this many days, counting the day of issue.
VALID_DAYS = 30


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def credit_report(
    ledger: Ledger,
    national_id: str,
    *,
    key: SigningKey,
    actor: Actor,
    purpose: str,
    on: dt.date | None = None,
    valid_days: int = VALID_DAYS,
) -> dict[str, Any]:
    """The signed credit report of the resident with ``national_id`` as of ``on`` (default
    today); the read is audited with ``actor`` and ``purpose``."""
    number = validate(national_id, today=ledger.today())
    resident, rows = ledger.read_resident(number, actor=actor, purpose=purpose)
    return credit_report_of(
        ledger, resident, rows, key=key, national_id=number, on=on, valid_days=valid_days
    )


def credit_report_of(
    ledger: Ledger,
    resident: ResidentInfo,
    rows: Sequence[StoredRecord],
    *,
    key: SigningKey,
    national_id: str | None = None,
    on: dt.date | None = None,
    valid_days: int = VALID_DAYS,
) -> dict[str, Any]:
    """The signed report from a read the caller has already made through an audited
    ledger read (a signed-in resident known by pseudonym, say). Without ``national_id``
    the report carries no masked number and no subject binding."""
    if valid_days < 1:
        raise ValidationError(f"valid_days: expected at least 1, found {valid_days}")
    issued_on = ledger.today()
    as_of = on or issued_on
    result = explain(rows, ledger.policy, as_of, subject=resident.subject)
    version = ledger.policy.in_force(as_of)
    head = chain_head(ledger.engine)
    binding = bind_subject(national_id) if national_id else None
    body = {
        "issued_at": _utc(ledger.now()),
        "valid_from": issued_on.isoformat(),
        "valid_until": (issued_on + dt.timedelta(days=valid_days - 1)).isoformat(),
        "as_of": as_of.isoformat(),
        "policy": {"name": version.name, "version": version.version, "title": version.title},
        "subject": {
            "masked_id": mask_id(national_id) if national_id else None,
            "pseudonym_ref": resident.pseudonym[:16],
            "district": resident.district,
            "binding": {"salt": binding.salt, "digest": binding.digest} if binding else None,
        },
        **_outcome(result, disclose(result, ledger.policy)),
        "audit_head": {"seq": head.seq, "hash": head.hash},
    }
    return sign_document(KIND, body, key)


def _outcome(result: Explanation, shown: Disclosure) -> dict[str, Any]:
    return {
        "score": result.score,
        "grade": result.grade,
        "forced_by": result.forced_by,
        "out_of_scope": result.out_of_scope,
        "scale": {
            "baseline": result.scale.baseline,
            "floor": result.scale.floor,
            "ceiling": result.scale.ceiling,
        },
        "records": [_record(line) for line in shown.shown],
        "omitted": [
            {"rule": rule, "text": RULES[rule], "records": count}
            for rule, count in shown.omitted.items()
        ],
        "adjustments": [
            {"date": a.date.isoformat(), "points": a.delta, "reason": a.reason}
            for a in result.adjustments
        ],
        "measures": [
            {"name": m.name, "date": m.date.isoformat(), "standing": m.standing}
            | ({"until": m.until.isoformat()} if m.until else {})
            for m in result.measures
        ],
        "perks": [
            {
                "perk": p.code,
                "title": p.title,
                "provider": p.provider,
                "eligible": p.eligible,
                "valid_until": _day(p.valid_until),
                "reason": p.reason,
            }
            for p in result.perks
        ],
    }


def _record(line: RecordLine) -> dict[str, Any]:
    r = line.record
    return {
        "department": r.department,
        "metric": r.metric,
        "description": line.metric_title,
        "source_ref": r.source_ref,
        "kind": r.kind,
        "act_date": r.act_date.isoformat(),
        "decision_date": r.decision_date.isoformat(),
        "points": line.points,
        "counted": line.counted,
        "status": line.status,
        "status_text": line.status_text,
        "expires_on": _day(line.expires_on),
        "repair_from": _day(line.repair_from),
        "legal_basis": line.legal_basis,
        "notes": list(line.notes),
    }


@dataclass(frozen=True)
class ReportCheck:
    """A verified credit report: what a reader needs at a glance, and the whole body."""

    key_id: str
    score: int | None
    grade: str | None
    records: int
    as_of: dt.date
    issued_at: str
    valid_from: dt.date
    valid_until: dt.date
    masked_id: str | None
    subject_matches: bool | None
    body: dict[str, Any]


def read_credit_report(
    envelope: Any,
    public_keys: Iterable[PublicKey],
    *,
    national_id: str | None = None,
    today: dt.date | None = None,
) -> ReportCheck:
    """Verify a report (signature by a trusted key, validity window) and, with
    ``national_id``, whether it is that resident's; raise
    :class:`~osmanthus.errors.SignatureInvalid` when it does not verify.
    ``subject_matches`` is None when no number was given or the report has no binding."""
    document = verify_document(envelope, public_keys, kind=KIND, today=today)
    body = document.body
    try:
        subject = body["subject"]
        binding = subject["binding"]
        check = ReportCheck(
            key_id=document.key_id,
            score=body["score"],
            grade=body["grade"],
            records=len(body["records"]),
            as_of=dt.date.fromisoformat(body["as_of"]),
            issued_at=str(body["issued_at"]),
            valid_from=document.valid_from,
            valid_until=document.valid_until,
            masked_id=subject["masked_id"],
            subject_matches=None,
            body=body,
        )
        bound = SubjectBinding(str(binding["salt"]), str(binding["digest"])) if binding else None
    except (KeyError, TypeError, ValueError) as exc:
        raise SignatureInvalid(f"malformed credit report: {type(exc).__name__} {exc}") from None
    if national_id is not None and bound is not None:
        return replace(check, subject_matches=bound.matches(national_id))
    return check


def report_lines(envelope: dict[str, Any]) -> list[str]:
    """The report as plain text lines (for a terminal or a plain-text printout)."""
    body = envelope["body"]
    subject, policy = body["subject"], body["policy"]
    signature = envelope["signature"]
    lines = [
        f"Osmanthus credit report — {policy['title']} ({policy['name']} {policy['version']})",
        f"resident {subject['masked_id'] or '(number not shown)'}, reference "
        f"{subject['pseudonym_ref']}, district {subject['district']}",
        f"as of {body['as_of']}; issued {body['issued_at']}; valid {body['valid_from']} to "
        f"{body['valid_until']}",
    ]
    if body["score"] is None:
        lines.append(f"no score: {body['out_of_scope']}")
    else:
        grade = f", grade {body['grade']}" if body["grade"] else ""
        forced = f" (forced by: {body['forced_by']})" if body["forced_by"] else ""
        lines.append(f"score {body['score']}{grade}{forced}")
    lines.append(f"records ({len(body['records'])}):")
    for r in body["records"]:
        expires = f", expires {r['expires_on']}" if r["expires_on"] else ""
        lines.append(
            f"  {r['act_date']} {r['description']} ({r['department']} {r['source_ref']}): "
            f"{r['points']:+d}, counted {r['counted']:+d}, {r['status_text']}{expires}"
        )
        lines.append(f"      legal basis: {r['legal_basis']}")
    for o in body.get("omitted", []):
        lines.append(f"  not shown: {o['records']} record(s), {o['text']}")
    for a in body["adjustments"]:
        lines.append(f"  adjustment {a['date']}: {a['points']:+d} ({a['reason']})")
    for m in body["measures"]:
        until = f", until {m['until']}" if m.get("until") else ""
        lines.append(f"  measure {m['name']} on {m['date']} at standing {m['standing']}{until}")
    lines.append("perks:")
    for p in body["perks"]:
        verdict = f"eligible until {p['valid_until']}" if p["eligible"] else "not eligible"
        lines.append(f"  {p['title']} ({p['provider']}): {verdict}")
    head = body["audit_head"]
    lines.append(f"audit chain head at issue: #{head['seq']} {head['hash']}")
    lines.append(f"signed {signature['alg']} by key {signature['key_id']}")
    return lines
