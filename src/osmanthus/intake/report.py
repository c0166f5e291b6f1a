"""A batch's report as JSON or CSV: its outcome, then one line per problem.

CSV cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) are written with a leading apostrophe, the usual
neutralisation (OWASP, "CSV injection"): the department sees the value, never runs it.
"""

from __future__ import annotations

import csv
import io
import json

from osmanthus.intake.outcome import Outcome

__all__ = ["inert", "report_csv", "report_json"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FIELDS = ("row", "field", "value", "reason", "level")


def inert(text: str) -> str:
    """``text`` as a spreadsheet shows it without evaluating it."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def report_json(outcome: Outcome) -> str:
    """The outcome and every listed problem, as one JSON document."""
    document = {
        **outcome.summary(),
        "problems": [
            {"row": p.row, "field": p.field, "value": p.value, "reason": p.reason, "level": p.level}
            for p in outcome.problems
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def report_csv(outcome: Outcome) -> str:
    """One CSV line per problem (row, field, value, reason, level), formula-safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_FIELDS)
    for p in outcome.problems:
        writer.writerow([p.row, inert(p.field), inert(p.value), inert(p.reason), p.level])
    return buffer.getvalue()
