"""``osmanthus disputes ...``: the dispute procedure from a terminal (a service counter
files for a resident; a department answers; the reviewer decides; the sweep acts on
deadlines)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from osmanthus.cli.base import OPERATOR, IdArg, app, domain_errors, open_ledger, out
from osmanthus.core import Actor

if TYPE_CHECKING:
    from osmanthus.ledger import Dispute, Ledger

disputes_app = typer.Typer(
    help="Disputes: file, answer, appeal, review, and the deadline sweep.", no_args_is_help=True
)
app.add_typer(disputes_app, name="disputes")

DisputeId = Annotated[int, typer.Argument(metavar="ID", help="The dispute's number.")]
Reason = Annotated[str, typer.Option(help="Why (10 to 2000 characters; the resident sees it).")]
StaffKey = Annotated[
    str | None,
    typer.Option(
        "--key",
        envvar="OSMANTHUS_KEY",
        metavar="KEY",
        help="A staff API key (or OSMANTHUS_KEY): who acts is recorded in the audit chain.",
        show_default=False,
    ),
]
Correct = Annotated[
    float | None,
    typer.Option(metavar="VALUE", help="Correct the record to this value instead of retracting."),
]
ExtendDays = Annotated[
    int | None, typer.Option(help="--extend: by this many days (default: the most allowed).")
]
NewInformation = Annotated[
    bool, typer.Option("--new-information", help="--extend: the resident sent new information.")
]
CorrectDate = Annotated[
    dt.datetime | None,
    typer.Option(formats=["%Y-%m-%d"], help="A profile dispute: the corrected date."),
]


@disputes_app.command("file")
@domain_errors
def disputes_file(
    ctx: typer.Context,
    national_id: IdArg,
    record_id: Annotated[int, typer.Argument(help="The record disputed (osmanthus explain).")],
    reason: Reason,
) -> None:
    """File a dispute on a resident's behalf (at a service counter)."""
    from osmanthus.disputes import file_dispute

    with open_ledger(ctx) as ledger:
        name = ledger.pseudonym_of(national_id)
        found = file_dispute(ledger, name, record_id, reason, actor=OPERATOR)
    print_dispute(found)


@disputes_app.command("profile")
@domain_errors
def disputes_profile(ctx: typer.Context, national_id: IdArg) -> None:
    """The profile facts the rules use about a resident (a read of personal data:
    audited), with the numbers to dispute them by."""
    from osmanthus.disputes import profile_facts_used

    with open_ledger(ctx) as ledger:
        name = ledger.pseudonym_of(national_id)
        ledger.record_access(
            actor=OPERATOR, action="profile.read", subject=name, purpose="profile facts"
        )
        facts = profile_facts_used(ledger, name)
    for f in facts:
        out.print(
            f"fact {f['id']}\t{f['attribute']}\t{f['value']}\t{f['department']} "
            f"{f['source_ref']}\t({f['title']})",
            markup=False,
            highlight=False,
        )
    if not facts:
        out.print("the rules use no profile facts about this resident", highlight=False)


@disputes_app.command("file-profile")
@domain_errors
def disputes_file_profile(
    ctx: typer.Context,
    national_id: IdArg,
    fact_id: Annotated[int, typer.Argument(help="The profile fact (osmanthus disputes profile).")],
    reason: Reason,
) -> None:
    """Dispute a resident's profile fact on their behalf (at a service counter)."""
    from osmanthus.disputes import file_profile_dispute

    with open_ledger(ctx) as ledger:
        name = ledger.pseudonym_of(national_id)
        found = file_profile_dispute(ledger, name, fact_id, reason, actor=OPERATOR)
    print_dispute(found)


@disputes_app.command("list")
@domain_errors
def disputes_list(
    ctx: typer.Context,
    department: Annotated[str | None, typer.Option(help="Only this department's.")] = None,
    state: Annotated[
        str | None,
        typer.Option(
            help="Only in this state: open, upheld, rejected, appealed, confirmed, overturned."
        ),
    ] = None,
) -> None:
    """Disputes, soonest deadline first: number, state, deadline, record and department
    (no resident data)."""
    from osmanthus.disputes import department_disputes

    with open_ledger(ctx) as ledger:
        today = ledger.today()
        found = department_disputes(ledger, department, (state,) if state else None)
    print_rows(found, today, empty="no disputes")


def print_rows(found: list[Dispute], today: dt.date, *, empty: str) -> None:
    """One line per dispute or application: number, state, deadline, what and whose
    (no resident data)."""
    for d in found:
        flags = " OVERDUE" if d.overdue(today) else ""
        flags += " (repair application)" if d.kind == "repair" else ""
        flags += f" set aside from {d.suspended_from}" if d.suspended_from else ""
        what = (
            f"profile fact {d.profile_fact_id} ({d.metric})"
            if d.kind == "profile"
            else f"record {d.record_id} ({d.metric})"
        )
        out.print(
            f"{d.id}\t{_state(d)}\tdue {d.deadline}\t{what}\t{d.department}{flags}",
            markup=False,
            highlight=False,
        )
    if not found:
        out.print(empty, highlight=False)


@disputes_app.command("show")
@domain_errors
def disputes_show(
    ctx: typer.Context,
    dispute_id: DisputeId,
    purpose: Annotated[str, typer.Option(help="Why you read it (audited).")] = "dispute handling",
) -> None:
    """One dispute: the resident's reason, the record and its source reference, every
    step and the deadline (a read of personal data: audited)."""
    from osmanthus.ledger import dispute_by_id

    with open_ledger(ctx) as ledger:
        found = dispute_by_id(ledger.engine, dispute_id)
        ledger.record_access(
            actor=OPERATOR,
            action="dispute.read",
            subject=found.resident,
            purpose=purpose,
            detail={"dispute": dispute_id},
        )
        print_dispute(found, ledger=ledger)


@disputes_app.command("answer")
@domain_errors
def disputes_answer(
    ctx: typer.Context,
    dispute_id: DisputeId,
    department: Annotated[str, typer.Option(help="The department answering (its code).")],
    reason: Reason,
    uphold: Annotated[bool, typer.Option("--uphold", help="Retract (or correct) it.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="The record stands.")] = False,
    extend: Annotated[bool, typer.Option("--extend", help="Extend the deadline.")] = False,
    correct: Correct = None,
    days: ExtendDays = None,
    new_information: NewInformation = False,
    key: StaffKey = None,
    correct_date: CorrectDate = None,
) -> None:
    """The department's answer: --uphold [--correct VALUE | --correct-date DATE], --reject
    or --extend. With --key, the key must be the department's own."""
    from osmanthus.disputes import answer_dispute

    answer = _one_of(uphold=uphold, reject=reject, extend=extend)
    with open_ledger(ctx) as ledger:
        actor = department_actor(ledger, key, department)
        found = answer_dispute(
            ledger,
            dispute_id,
            answer,  # type: ignore[arg-type]
            department=department,
            actor=actor,
            reason=reason,
            correct=correct,
            days=days,
            new_information=new_information,
            correct_date=correct_date.date() if correct_date else None,
        )
    print_dispute(found)


@disputes_app.command("appeal")
@domain_errors
def disputes_appeal(ctx: typer.Context, dispute_id: DisputeId, reason: Reason) -> None:
    """Appeal a rejection to the reviewer, on the resident's behalf (by the deadline)."""
    from osmanthus.disputes import appeal_dispute

    with open_ledger(ctx) as ledger:
        found = appeal_dispute(ledger, dispute_id, reason, actor=OPERATOR)
    print_dispute(found)


@disputes_app.command("review")
@domain_errors
def disputes_review(
    ctx: typer.Context,
    dispute_id: DisputeId,
    reason: Reason,
    key: StaffKey = None,
    confirm: Annotated[bool, typer.Option("--confirm", help="The rejection stands.")] = False,
    overturn: Annotated[
        bool, typer.Option("--overturn", help="Retract (or correct) the record.")
    ] = False,
    correct: Correct = None,
    correct_date: CorrectDate = None,
) -> None:
    """The reviewer's decision on an appeal (a reviewer's key is required)."""
    from osmanthus.disputes import review_dispute
    from osmanthus.errors import NotSignedIn
    from osmanthus.web.access import authenticate

    decision = _one_of(confirm=confirm, overturn=overturn)
    with open_ledger(ctx) as ledger:
        if not key:
            raise NotSignedIn("--key: the reviewer's key is required (or OSMANTHUS_KEY)")
        caller = authenticate(ledger.engine, key).require("reviewer")
        found = review_dispute(
            ledger,
            dispute_id,
            decision,  # type: ignore[arg-type]
            actor=caller.identity,
            reason=reason,
            correct=correct,
            correct_date=correct_date.date() if correct_date else None,
        )
    print_dispute(found)


@disputes_app.command("sweep")
@domain_errors
def disputes_sweep(
    ctx: typer.Context,
    today: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Count overdue as of this day (default: today)."),
    ] = None,
) -> None:
    """Set aside the record of every dispute not answered (or appeal not reviewed) by its
    deadline, from the next day. Running it twice writes nothing more."""
    from osmanthus.disputes import sweep_disputes

    with open_ledger(ctx) as ledger:
        swept = sweep_disputes(ledger, today.date() if today else None)
    for d in swept.suspended:
        out.print(
            f"dispute {d.id}: record {d.record_id} set aside from {d.suspended_from} "
            f"(due {d.deadline})",
            markup=False,
            highlight=False,
        )
    for d in swept.escalated:
        out.print(
            f"repair application {d.id}: not answered by {d.steps[-1].reason or 'its deadline'}"
            f"; sent to the reviewer, due {d.deadline}",
            markup=False,
            highlight=False,
        )
    out.print(f"{len(swept.suspended)} record(s) set aside on {swept.today}", highlight=False)
    if swept.escalated:
        out.print(
            f"{len(swept.escalated)} repair application(s) sent to the reviewer", highlight=False
        )


def _one_of(**flags: bool) -> str:
    chosen = [name for name, on in flags.items() if on]
    if len(chosen) != 1:
        names = " | ".join(f"--{name}" for name in flags)
        raise typer.BadParameter(f"choose exactly one of {names}")
    return chosen[0]


def department_actor(ledger: Ledger, key: str | None, department: str) -> Actor:
    """The department's own key, or the CLI's operator acting for the department."""
    if not key:
        return Actor("operator", f"cli for {department}")
    from osmanthus.errors import AccessDenied
    from osmanthus.web.access import authenticate

    caller = authenticate(ledger.engine, key).require("department")
    if caller.department != department:
        raise AccessDenied(
            f"--key: the key speaks for department {caller.department!r}, not {department!r}"
        )
    return caller.actor


def print_dispute(found: Dispute, *, ledger: Any = None) -> None:
    """A dispute or an application for repair, every step, and (with the ledger) the
    procedure it follows."""
    d = found
    repair = d.kind == "repair"
    head = f"repair application {d.id}" if repair else f"dispute {d.id}"
    what = (
        f"profile fact {d.profile_fact_id}: {d.metric} {d.act_date}, {d.department} {d.source_ref}"
        if d.kind == "profile"
        else f"record {d.record_id}: {d.metric} value {d.value:g}, act {d.act_date}, "
        f"{d.department} {d.source_ref}"
    )
    lines = [
        f"{head}: {_state(d)}, due {d.deadline}",
        what,
        f"{'statement' if repair else 'reason'}: {d.reason}",
    ]
    if d.evidence_ref:
        lines.append(f"evidence: {d.evidence_ref}")
    if d.suspended_from:
        lines.append(f"record set aside from {d.suspended_from} until answered")
    for step in d.steps:
        text = f"  {step.at:%Y-%m-%d %H:%M} UTC  {step.kind:<10} {step.actor}"
        if step.due:
            text += f"  due {step.due}"
        if step.record_id:
            text += f"  {'repair' if repair else 'new'} record {step.record_id}"
        lines.append(text)
        if step.reason and step.kind != "filed":
            lines.append(f"      {step.reason}")
    if ledger is not None:
        from osmanthus.disputes import procedure_of

        lines.append(f"procedure: {procedure_of(ledger, d).describe()}")
    for line in lines:
        out.print(escape(line), highlight=False)


#: How a state reads for an application for repair.
REPAIR_STATES = {"upheld": "granted", "rejected": "refused", "overturned": "granted on review"}


def _state(d: Dispute) -> str:
    return REPAIR_STATES.get(d.status, d.status) if d.kind == "repair" else d.status
