"""The steps of a dispute, and who may take each.

    filed ──(department)──► upheld            the record is retracted or corrected
      │                  ├► rejected ──(resident, by the appeal deadline)──► appealed
      │                  └► extended (stays open, new due date)                 │
      │                                               (reviewer) ──► confirmed  │
      │                                                          └─► overturned ◄┘
      └── not answered by the due date: the record is set aside from the next day
          (:mod:`osmanthus.disputes.sweep`); an overdue appeal likewise.

An application for early repair (:mod:`osmanthus.disputes.repairs`) takes the same
steps: upheld means granted (the record ends on that day: a ``repair`` row), rejected
means refused; an overdue answer sends it to the reviewer (``escalated``) instead of
setting the record aside, and the reviewer's overturn grants it. A dispute of a profile
fact (:mod:`osmanthus.disputes.profile`) likewise: upheld (or overturned) with the
corrected date, a new fact the scorers take from then on; overdue, to the reviewer.

The resident's own words (the dispute's and the appeal's reason) are theirs to give and
are not screened for prohibited data: a resident may need to say they were in hospital.
What a department or the reviewer writes is screened like every text the ledger keeps
about a resident (:meth:`osmanthus.ledger.Ledger.refuse_prohibited`).

A dispute follows the procedure (:class:`osmanthus.policy.procedure.Procedure`) of the
policy version in force on the day it was filed. Every step is one transaction through
the ledger (:func:`osmanthus.ledger.write_step`): a refused step writes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from sqlalchemy import Connection

from osmanthus.core import Actor
from osmanthus.errors import AccessDenied, StepRefused, ValidationError
from osmanthus.ledger import (
    Dispute,
    Ledger,
    StepWrite,
    insert_dispute,
    newest_version,
    write_step,
)
from osmanthus.policy.procedure import Procedure

__all__ = [
    "REVIEWER",
    "answer_dispute",
    "appeal_dispute",
    "file_dispute",
    "procedure_of",
    "review_dispute",
]

#: The role of the independent reviewer (an ombudsman): belongs to no department and
#: sends no records.
REVIEWER = "reviewer"

Answer = Literal["uphold", "reject", "extend"]
Review = Literal["confirm", "overturn"]


def procedure_of(ledger: Ledger, dispute: Dispute) -> Procedure:
    """The procedure a dispute follows: that of the version in force when it was filed."""
    filed = dispute.filed_at.astimezone(ledger.timezone).date()
    return ledger.policy.in_force(filed).dispute_procedure


def _reason(reason: str | None, *, required: bool = True) -> str | None:
    text = (reason or "").strip()
    if not text and not required:
        return None
    if not 10 <= len(text) <= 2000:
        raise ValidationError(f"reason: expected 10 to 2000 characters, found {len(text)}")
    return text


def file_dispute(
    ledger: Ledger,
    pseudonym: str,
    record_id: int,
    reason: str,
    *,
    actor: Actor | None = None,
) -> Dispute:
    """File a dispute of one of the resident's own records (by the resident, or by an
    operator on their behalf); audited. The answer is due by the procedure's deadline."""
    text = _reason(reason)  # the resident's own words: not screened (see the module)
    assert text is not None
    now = ledger.now()
    procedure = ledger.policy.in_force(ledger.today()).dispute_procedure
    return insert_dispute(
        ledger.engine,
        pseudonym,
        record_id,
        text,
        filed=now,
        deadline=lambda _conn, _department: procedure.answer_due(now),
        actor=actor or Actor("resident", pseudonym[:12]),
    )


def _overdue_suspension(dispute: Dispute, today: dt.date) -> list[tuple[dt.date, bool]]:
    """An overdue dispute not yet swept is set aside from the day after its deadline
    before it is answered (the sweep would have written the same fact); an application
    for repair sets nothing aside."""
    if dispute.kind == "record" and dispute.overdue(today) and dispute.suspended_from is None:
        return [(dispute.deadline + dt.timedelta(days=1), False)]
    return []


def _lift(dispute: Dispute, today: dt.date, pending: list[tuple[dt.date, bool]]) -> None:
    """The record counts again from ``today`` if it is (or is about to be) set aside."""
    if dispute.suspended_from is not None or pending:
        pending.append((today, True))


def answer_dispute(
    ledger: Ledger,
    dispute_id: int,
    answer: Answer,
    *,
    department: str,
    actor: Actor,
    reason: str,
    correct: float | None = None,
    days: int | None = None,
    new_information: bool = False,
    correct_date: dt.date | None = None,
) -> Dispute:
    """The department's answer: ``uphold`` (the record is retracted, or corrected to
    ``correct``, in the same transaction), ``reject`` (with a reason the resident sees;
    the appeal deadline starts) or ``extend`` (by ``days``, at most the procedure's
    limit, only where it allows). Only the department that sent the record may answer."""
    text = _reason(reason)
    assert text is not None
    ledger.refuse_prohibited(actor, "reason", text)
    if actor.role == REVIEWER:
        raise AccessDenied("a reviewer does not answer for a department: use review")
    if correct is not None and answer != "uphold":
        raise ValidationError("correct: a corrected value goes with --uphold only")
    now, today = ledger.now(), ledger.today()

    def decide(conn: Connection, d: Dispute) -> StepWrite:
        if d.department != department:
            raise AccessDenied(
                f"dispute {d.id}: only department {d.department!r}, which sent the record, "
                "may answer it"
            )
        if d.status != "open":
            raise StepRefused(f"dispute {d.id}: already answered ({d.status})")
        procedure = procedure_of(ledger, d)
        pending = _overdue_suspension(d, today)
        if answer == "extend":
            return _extend(d, procedure, now, today, text, actor, days, new_information)
        if correct_date is not None and d.kind != "profile":
            raise ValidationError("correct_date: a corrected date goes with a profile fact")
        if answer == "uphold":
            return _for_resident(
                ledger, conn, d, "upheld", correct, correct_date, text, actor, now, pending
            )
        _lift(d, today, pending)
        appeal_by = procedure.appeal_due(now)
        return StepWrite.decided(
            "rejected",
            actor=actor,
            at=now,
            deadline=appeal_by,
            purpose="department rejects a dispute",
            reason=text,
            due=appeal_by,
            suspensions=pending,
        )

    return write_step(ledger.engine, dispute_id, decide)


def _extend(
    d: Dispute,
    procedure: Procedure,
    now: dt.datetime,
    today: dt.date,
    reason: str,
    actor: Actor,
    days: int | None,
    new_information: bool,
) -> StepWrite:
    extension = procedure.extension
    if extension is None:
        raise StepRefused(f"dispute {d.id}: the procedure allows no extension")
    if d.extensions >= extension.times:
        raise StepRefused(
            f"dispute {d.id}: already extended {d.extensions} time(s), the procedure's limit"
        )
    if today > d.deadline:
        raise StepRefused(f"dispute {d.id}: the deadline {d.deadline} has passed: answer it")
    if extension.when == "new_information" and not new_information:
        raise StepRefused(
            f"dispute {d.id}: the procedure allows an extension only when the resident sent "
            "new information (say so with new_information)"
        )
    wanted = extension.max_days if days is None else days
    if not 1 <= wanted <= extension.max_days:
        raise StepRefused(
            f"days: the procedure allows an extension of 1 to {extension.max_days} days, "
            f"asked for {wanted}"
        )
    due = procedure.extended_due(d.deadline, wanted)
    return StepWrite(
        kind="extended",
        actor=actor,
        at=now,
        status="open",
        deadline=due,
        purpose="department extends its answer deadline",
        reason=reason,
        due=due,
    )


def appeal_dispute(
    ledger: Ledger, dispute_id: int, reason: str, *, actor: Actor, pseudonym: str | None = None
) -> Dispute:
    """The resident appeals a rejection to the reviewer, by the appeal deadline (with
    ``pseudonym``: only their own dispute)."""
    text = _reason(reason)  # the resident's own words: not screened
    assert text is not None
    now, today = ledger.now(), ledger.today()

    def decide(conn: Connection, d: Dispute) -> StepWrite:
        if pseudonym is not None and d.resident != pseudonym:
            raise AccessDenied(f"dispute {d.id}: not a dispute of yours")
        if d.status != "rejected":
            raise StepRefused(
                f"dispute {d.id}: only a rejected dispute can be appealed (it is {d.status})"
            )
        if today > d.deadline:
            raise StepRefused(f"dispute {d.id}: the appeal deadline {d.deadline} has passed")
        due = procedure_of(ledger, d).review_due(now)
        return StepWrite.decided(
            "appealed",
            actor=actor,
            at=now,
            deadline=due,
            purpose="resident appeals a rejected dispute",
            reason=text,
            due=due,
        )

    return write_step(ledger.engine, dispute_id, decide)


def review_dispute(
    ledger: Ledger,
    dispute_id: int,
    review: Review,
    *,
    actor: Actor,
    reason: str,
    correct: float | None = None,
    correct_date: dt.date | None = None,
) -> Dispute:
    """The reviewer decides an appeal: ``confirm`` the rejection, or ``overturn`` it (the
    record is retracted, or corrected to ``correct``, in the platform's name, citing
    the decision)."""
    text = _reason(reason)
    assert text is not None
    if actor.role != REVIEWER:
        raise AccessDenied(f"only the {REVIEWER} decides appeals (you are {actor.role})")
    if correct is not None and review != "overturn":
        raise ValidationError("correct: a corrected value goes with --overturn only")
    ledger.refuse_prohibited(actor, "reason", text)
    now, today = ledger.now(), ledger.today()

    def decide(conn: Connection, d: Dispute) -> StepWrite:
        if d.status != "appealed":
            raise StepRefused(f"dispute {d.id}: no appeal awaits review (it is {d.status})")
        pending = _overdue_suspension(d, today)
        if correct_date is not None and d.kind != "profile":
            raise ValidationError("correct_date: a corrected date goes with a profile fact")
        if review == "confirm":
            _lift(d, today, pending)
            return StepWrite.decided(
                "confirmed",
                actor=actor,
                at=now,
                deadline=d.deadline,
                purpose="reviewer confirms a rejected dispute",
                reason=text,
                suspensions=pending,
            )
        return _for_resident(
            ledger, conn, d, "overturned", correct, correct_date, text, actor, now, pending
        )

    return write_step(ledger.engine, dispute_id, decide)


def _for_resident(
    ledger: Ledger,
    conn: Connection,
    d: Dispute,
    outcome: str,
    correct: float | None,
    correct_date: dt.date | None,
    text: str,
    actor: Actor,
    now: dt.datetime,
    pending: list[tuple[dt.date, bool]],
) -> StepWrite:
    """A decision for the resident (``upheld`` by the department, ``overturned`` by the
    reviewer), as the dispute's kind needs it: a profile fact corrected, a repair
    granted, or the record retracted or corrected."""
    by = "department" if outcome == "upheld" else "reviewer"
    if d.kind == "profile":
        return _profile_corrected(
            ledger,
            conn,
            d,
            outcome,
            correct,
            correct_date,
            text,
            actor,
            now,
            f"{by} corrects a profile fact",
        )
    if d.kind == "repair":
        if correct is not None:
            raise ValidationError("correct: a repair ends the record: no value to correct")
        return _granted(ledger, conn, d, outcome, text, actor, now, f"{by} grants early repair")
    record_reason = (
        f"dispute {d.id} upheld: {text}"
        if outcome == "upheld"
        else f"overturned on appeal, decision on dispute {d.id} by {actor}: {text}"
    )
    return _replaced(
        ledger,
        conn,
        d,
        outcome,
        correct,
        record_reason=record_reason,
        reason=text,
        actor=actor,
        at=now,
        purpose="department upholds a dispute"
        if outcome == "upheld"
        else "reviewer overturns a rejected dispute",
        suspensions=pending,
    )


def _profile_corrected(
    ledger: Ledger,
    conn: Connection,
    d: Dispute,
    outcome: str,
    correct: float | None,
    correct_date: dt.date | None,
    reason: str,
    actor: Actor,
    at: dt.datetime,
    purpose: str,
) -> StepWrite:
    """A dispute of a profile fact decided for the resident: the corrected date, a new
    fact, in the step's transaction (``dispute-N-<outcome>``)."""
    if correct is not None:
        raise ValidationError("correct: a profile fact is corrected by a date (correct_date)")
    if correct_date is None:
        raise ValidationError("correct_date: the corrected date is required to uphold")
    assert d.profile_fact_id is not None
    ledger.correct_profile_within(
        conn,
        d.profile_fact_id,
        correct_date,
        source_ref=f"dispute-{d.id}-{outcome}",
        actor=actor,
    )
    return StepWrite.decided(
        outcome,
        actor=actor,
        at=at,
        deadline=d.deadline,
        purpose=purpose,
        reason=f"{reason} (corrected to {correct_date})",
    )


def _granted(
    ledger: Ledger,
    conn: Connection,
    d: Dispute,
    outcome: str,
    reason: str,
    actor: Actor,
    at: dt.datetime,
    purpose: str,
) -> StepWrite:
    """An application for repair granted (upheld, overturned): the record (its newest
    version, should it have been corrected since) ends today, a ``repair`` row written
    in the step's transaction (``repair-N-<outcome>``)."""
    assert d.record_id is not None
    new_id = ledger.repair_within(
        conn,
        newest_version(conn, d.record_id),
        granted_on=at.astimezone(ledger.timezone).date(),
        source_ref=f"repair-{d.id}-{outcome}",
        reason=f"early repair granted on application {d.id} by {actor}: {reason}",
        actor=actor,
    )
    return StepWrite.decided(
        outcome,
        actor=actor,
        at=at,
        deadline=d.deadline,
        purpose=purpose,
        reason=reason,
        record_id=new_id,
    )


def _replaced(
    ledger: Ledger,
    conn: Connection,
    d: Dispute,
    outcome: str,
    correct: float | None,
    *,
    record_reason: str,
    reason: str,
    actor: Actor,
    at: dt.datetime,
    purpose: str,
    suspensions: list[tuple[dt.date, bool]],
) -> StepWrite:
    """A decision for the resident (upheld, overturned): the record is retracted, or
    corrected to ``correct``, in the step's transaction (``dispute-N-<outcome>``)."""
    new_id = ledger.supersede_within(
        conn,
        d.department,
        d.source_ref,
        kind="retraction" if correct is None else "correction",
        value=correct,
        new_source_ref=f"dispute-{d.id}-{outcome}",
        reason=record_reason,
        actor=actor,
        subject=d.resident,
        in_dispute=True,
    )
    return StepWrite.decided(
        outcome,
        actor=actor,
        at=at,
        deadline=d.deadline,
        purpose=purpose,
        reason=reason,
        record_id=new_id,
        suspensions=suspensions,
    )
