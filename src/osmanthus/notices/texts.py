"""What each kind of notice says, in the reader's language.

A notice keeps the facts of its event (:class:`osmanthus.ledger.Notice`); its text is
rendered when it is read (the inbox, in the page's language) or sent (the e-mail, in the
language the resident chose). Names of departments, metrics and perks come from the
policy in their language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from osmanthus.i18n import gettext_noop as N_
from osmanthus.ledger import Notice
from osmanthus.policy.names import Names

__all__ = ["FOOTER", "KINDS", "Rendered", "render"]

#: The last line of every e-mail.
FOOTER = N_("Osmanthus civic-credit points. All your notices: sign in and open My notices.")


@dataclass(frozen=True)
class Rendered:
    """A notice as a reader sees it: a subject line and the lines of its body."""

    subject: str
    lines: tuple[str, ...]


#: kind -> (subject, body lines); ``%(name)s`` are the payload's facts (with names).
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dispute.filed": (
        N_("Your dispute of record %(record)s (%(metric)s) was received"),
        (N_("%(department)s must answer by %(due)s."),),
    ),
    "dispute.upheld": (
        N_("Your dispute of record %(record)s was upheld"),
        (
            N_("%(department)s corrected or retracted the record."),
            N_("Reason given: %(reason)s"),
        ),
    ),
    "dispute.rejected": (
        N_("Your dispute of record %(record)s was rejected"),
        (
            N_("Reason given: %(reason)s"),
            N_("You may appeal to the independent reviewer by %(due)s."),
        ),
    ),
    "dispute.extended": (
        N_("The answer to your dispute of record %(record)s was extended"),
        (N_("New deadline: %(due)s."), N_("Reason given: %(reason)s")),
    ),
    "dispute.suspended": (
        N_("Record %(record)s does not count while your dispute is undecided"),
        (
            N_(
                "The deadline passed without a decision: the record does not count from "
                "%(suspended_from)s until it is decided."
            ),
        ),
    ),
    "dispute.appealed": (
        N_("Your appeal of dispute %(dispute)s was received"),
        (N_("The independent reviewer must decide by %(due)s."),),
    ),
    "dispute.confirmed": (
        N_("The reviewer confirmed the rejection of your dispute %(dispute)s"),
        (N_("Reason given: %(reason)s"),),
    ),
    "dispute.overturned": (
        N_("The reviewer overturned the rejection: record %(record)s was corrected or retracted"),
        (N_("Reason given: %(reason)s"),),
    ),
    "repair.filed": (
        N_("Your application for early repair of record %(record)s (%(metric)s) was received"),
        (N_("%(department)s must decide by %(due)s."),),
    ),
    "repair.upheld": (
        N_("Early repair of record %(record)s was granted"),
        (
            N_("The record no longer counts from today."),
            N_("Reason given: %(reason)s"),
        ),
    ),
    "repair.rejected": (
        N_("Your application for early repair of record %(record)s was refused"),
        (
            N_("Reason given: %(reason)s"),
            N_("You may appeal to the independent reviewer by %(due)s."),
        ),
    ),
    "repair.extended": (
        N_("The decision on your application for repair of record %(record)s was extended"),
        (N_("New deadline: %(due)s."), N_("Reason given: %(reason)s")),
    ),
    "repair.escalated": (
        N_("Your application for repair of record %(record)s went to the reviewer"),
        (
            N_("%(department)s did not decide in time."),
            N_("The independent reviewer must decide by %(due)s."),
        ),
    ),
    "repair.appealed": (
        N_("Your appeal of application %(dispute)s was received"),
        (N_("The independent reviewer must decide by %(due)s."),),
    ),
    "repair.confirmed": (
        N_("The reviewer confirmed the refusal of your application %(dispute)s"),
        (N_("Reason given: %(reason)s"),),
    ),
    "repair.overturned": (
        N_("The reviewer granted early repair of record %(record)s"),
        (
            N_("The record no longer counts from today."),
            N_("Reason given: %(reason)s"),
        ),
    ),
    "repair.closed": (
        N_("Your application for repair of record %(record)s was closed"),
        (N_("The department retracted the record: it no longer counts at all."),),
    ),
    "profile.filed": (
        N_("Your dispute of your profile data (%(metric)s) was received"),
        (N_("%(department)s must answer by %(due)s."),),
    ),
    "profile.upheld": (
        N_("Your profile data (%(metric)s) was corrected"),
        (N_("Reason given: %(reason)s"), N_("Your scores are computed from the corrected date.")),
    ),
    "profile.rejected": (
        N_("Your dispute of your profile data (%(metric)s) was rejected"),
        (
            N_("Reason given: %(reason)s"),
            N_("You may appeal to the independent reviewer by %(due)s."),
        ),
    ),
    "profile.extended": (
        N_("The answer to your dispute of your profile data (%(metric)s) was extended"),
        (N_("New deadline: %(due)s."), N_("Reason given: %(reason)s")),
    ),
    "profile.escalated": (
        N_("Your dispute of your profile data (%(metric)s) went to the reviewer"),
        (
            N_("%(department)s did not answer in time."),
            N_("The independent reviewer must decide by %(due)s."),
        ),
    ),
    "profile.appealed": (
        N_("Your appeal of dispute %(dispute)s was received"),
        (N_("The independent reviewer must decide by %(due)s."),),
    ),
    "profile.confirmed": (
        N_("The reviewer confirmed the rejection of your dispute %(dispute)s"),
        (N_("Reason given: %(reason)s"),),
    ),
    "profile.overturned": (
        N_("The reviewer corrected your profile data (%(metric)s)"),
        (N_("Reason given: %(reason)s"), N_("Your scores are computed from the corrected date.")),
    ),
    "record.new": (
        N_("A new record: %(metric)s, %(points)s points"),
        (
            N_("Reported by %(department)s for %(act_date)s; legal basis: %(legal_basis)s."),
            N_("It counts until %(expires)s."),
            N_("If it is wrong, dispute it on your records page (record %(record)s)."),
        ),
    ),
    "record.expired": (
        N_("Record %(record)s (%(metric)s) has expired"),
        (N_("It no longer counts from %(expires)s."),),
    ),
    "perk.lost": (
        N_("You no longer qualify for %(perk)s"),
        (
            N_("Your score on %(as_of)s is %(score)s; %(perk)s needs %(needs)s."),
            N_("What weighs most:"),
        ),
    ),
    "perk.gained": (
        N_("You now qualify for %(perk)s"),
        (N_("Your score on %(as_of)s is %(score)s."),),
    ),
}

_WEIGHS = N_("%(metric)s on %(act_date)s: %(points)s points (reason code %(code)s)")
_RESTORED = N_("It comes back by %(restored_on)s at the latest, as records expire.")
_RESTORED_NEVER = N_("It does not come back by expiries alone.")
_DISPUTE = N_(
    "If a record is wrong, dispute it on your records page: the department must answer "
    "within %(procedure)s."
)


def render(notice: Notice, gettext: Callable[[str], str], names: Names) -> Rendered:
    """The notice's subject and body in the language of ``gettext``."""
    facts: dict[str, Any] = {k: "" if v is None else v for k, v in notice.payload.items()}
    if "metric" in facts:
        facts["metric"] = names.metric(str(facts["metric"]))
    if "department" in facts:
        facts["department"] = names.dept(str(facts["department"]))
    if "perk" in facts:
        facts["perk"] = names.perk(str(facts["perk"]))
    subject, body = KINDS.get(notice.kind, (notice.kind, ()))
    lines = [_fill(gettext(line), facts) for line in body]
    if notice.kind == "perk.lost":
        for weight in notice.payload.get("weighs", []):
            lines.append(
                "  "
                + _fill(
                    gettext(_WEIGHS),
                    {**weight, "metric": names.metric(weight["code"]), "points": weight["points"]},
                )
            )
        restored = notice.payload.get("restored_on")
        lines.append(
            _fill(gettext(_RESTORED), {"restored_on": restored})
            if restored
            else gettext(_RESTORED_NEVER)
        )
        lines.append(_fill(gettext(_DISPUTE), facts))
    return Rendered(_fill(gettext(subject), facts), tuple(lines))


def _fill(text: str, facts: dict[str, Any]) -> str:
    try:
        return text % facts
    except (KeyError, TypeError, ValueError):  # a fact missing: the text without it
        return text
