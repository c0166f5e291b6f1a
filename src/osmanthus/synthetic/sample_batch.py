"""A sample department batch about residents of the demo city, to try intake on.

Traffic-police reports for the first residents of the city, with two rows that are wrong
on purpose (an act dated in the future, a metric traffic police may not report), so the
demo shows a refused batch, its report, and ``--partial``.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np

__all__ = ["write_sample_batch"]

_METRICS = ("failure_to_yield", "running_red_light")


def write_sample_batch(path: Path, national_ids: list[str], today: dt.date, seed: int) -> int:
    """Write the sample batch as CSV; return its number of rows."""
    rng = np.random.default_rng(seed)
    rows = []
    for number, national_id in enumerate(national_ids, start=1):
        act = today - dt.timedelta(days=int(rng.integers(3, 60)))
        decided = act + dt.timedelta(days=2)
        rows.append([national_id, _METRICS[number % 2], act, decided, f"TP-DEMO-{number:06d}", 1])
    if len(rows) >= 10:
        future = today + dt.timedelta(days=30)
        rows[4][2:4] = [future, future]  # an act in the future
        rows[-1][1] = "tax_arrears"  # reported by the tax bureau, not the police
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["national_id", "metric", "act_date", "decision_date", "source_ref", "value"]
        )
        writer.writerows(rows)
    return len(rows)
