"""Due process: disputes of records, answered by the department that sent them within
the policy's procedure, suspended when a deadline passes, appealed to an independent
reviewer (:mod:`~osmanthus.disputes.steps`, :mod:`~osmanthus.disputes.sweep`); and
applications for early repair, decided the same way (:mod:`~osmanthus.disputes.repairs`)."""

from osmanthus.disputes.lists import department_disputes, open_disputes, resident_disputes
from osmanthus.disputes.profile import file_profile_dispute, profile_facts_used
from osmanthus.disputes.repairs import apply_repair, repair_check
from osmanthus.disputes.steps import (
    REVIEWER,
    answer_dispute,
    appeal_dispute,
    file_dispute,
    procedure_of,
    review_dispute,
)
from osmanthus.disputes.sweep import SWEEPER, Swept, sweep_disputes

__all__ = [
    "REVIEWER",
    "SWEEPER",
    "Swept",
    "answer_dispute",
    "appeal_dispute",
    "apply_repair",
    "department_disputes",
    "file_dispute",
    "file_profile_dispute",
    "open_disputes",
    "procedure_of",
    "profile_facts_used",
    "repair_check",
    "resident_disputes",
    "review_dispute",
    "sweep_disputes",
]
