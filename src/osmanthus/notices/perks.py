"""Adverse-action notices from population runs: a resident who lost (or gained) a perk
between the previous run of the present and this one is told which perk, the (up to)
four records that weigh most with their reason codes, what would restore it and by when
at the latest, and how to dispute.

Only a run of the present makes notices (scoring date today, no ``--known-at``); it is
compared with the newest earlier such run. A notice's key names the run, the resident
and the perk, so running this twice for one run writes nothing more.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from osmanthus.core import Actor
from osmanthus.ledger import Ledger, NewNotice, residents_now, write_notices
from osmanthus.population.runs import RunResult
from osmanthus.population.scores import scores_view
from osmanthus.residents.projection import project
from osmanthus.scoring import Explanation

__all__ = ["PERK_NOTICES", "PerkChanges", "perk_notices"]

PERK_NOTICES = Actor("platform", "perk-notices")
#: Records named in an adverse-action notice, the heaviest first.
WEIGHTS = 4


@dataclass(frozen=True)
class PerkChanges:
    """What one run's comparison found and wrote."""

    compared_with: str | None
    lost: int
    gained: int
    written: int


def _previous_present(runs: Path, run: RunResult) -> tuple[Path, str] | None:
    """The newest finished run before ``run`` that scored the present."""
    candidates = sorted(p for p in runs.iterdir() if (p / "run.json").is_file())
    for folder in reversed(candidates):
        if folder.name >= run.run_id:
            continue
        meta = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        if meta.get("present"):
            return folder, meta["as_of"]
    return None


def perk_notices(ledger: Ledger, run: RunResult) -> PerkChanges:
    """Write the perk notices of ``run`` (see the module); return what it found."""
    if run.known_at is not None or run.as_of != ledger.today():
        return PerkChanges(None, 0, 0, 0)
    found = _previous_present(run.folder.parent, run)
    if found is None:
        return PerkChanges(None, 0, 0, 0)
    before_folder, before_as_of = found
    codes_now = list(ledger.policy.in_force(run.as_of).perks)
    codes_before = list(ledger.policy.in_force(dt.date.fromisoformat(before_as_of)).perks)
    con = duckdb.connect()
    try:
        scores_view(con, "o", before_folder)
        if run.full is None and run.previous == before_folder.name:
            # an incremental run from that run: only the residents it scored can differ
            con.read_parquet(str(run.folder / "rescored" / "*.parquet")).create_view("n")
        else:
            scores_view(con, "n", run.folder)
        rows = con.execute(
            "SELECT n.resident_id, n.score, n.perks, o.perks "
            "FROM n JOIN o USING (resident_id) "
            "WHERE n.score IS NOT NULL AND o.score IS NOT NULL"
        ).fetchall()
    finally:
        con.close()
    changes: dict[int, tuple[int, set[str], set[str]]] = {}
    for resident_id, score, now_bits, before_bits in rows:
        now = {c for bit, c in enumerate(codes_now) if now_bits >> bit & 1}
        before = {c for bit, c in enumerate(codes_before) if before_bits >> bit & 1}
        if now != before:
            changes[int(resident_id)] = (int(score), before - now, now - before)
    notices: list[NewNotice] = []
    state = residents_now(ledger.engine, sorted(changes)) if changes else {}
    for resident_id, (score, lost, gained) in changes.items():
        resident, records = state[resident_id]
        outlook = project(records, ledger.policy, run.as_of, subject=resident.subject)
        heaviest = _heaviest(outlook.today)
        for code in sorted(lost):
            perk = next((o for o in outlook.outlook if o.code == code), None)
            facts = {
                "perk": code,
                "score": score,
                "as_of": run.as_of.isoformat(),
                "needs": perk.needs if perk else "",
                "restored_on": perk.reached_on.isoformat() if perk and perk.reached_on else None,
                "weighs": heaviest,
                "procedure": ledger.policy.in_force(run.as_of).dispute_procedure.describe(),
                "run": run.run_id,
            }
            key = f"perk:{run.run_id}:{resident_id}:{code}:lost"
            notices.append(NewNotice(resident_id, "perk.lost", key, facts))
        for code in sorted(gained):
            facts = {
                "perk": code,
                "score": score,
                "as_of": run.as_of.isoformat(),
                "run": run.run_id,
            }
            key = f"perk:{run.run_id}:{resident_id}:{code}:gained"
            notices.append(NewNotice(resident_id, "perk.gained", key, facts))
    written = write_notices(
        ledger.engine,
        notices,
        actor=PERK_NOTICES,
        now=ledger.now(),
        purpose="notices of perks lost or gained since the last population run",
        detail={"run": run.run_id, "compared_with": before_folder.name, "residents": len(changes)},
    )
    lost_count = sum(len(v[1]) for v in changes.values())
    gained_count = sum(len(v[2]) for v in changes.values())
    return PerkChanges(before_folder.name, lost_count, gained_count, written)


def _heaviest(today: Explanation) -> list[dict[str, object]]:
    """The counted records that cost the most points (the heaviest first, then the
    newest), as reason codes (the metric's code) with their points and act date."""
    scale = today.scale
    costs = [line for line in today.lines if line.status == "counted" and scale.worse(line.counted)]
    costs.sort(key=lambda line: (-abs(line.counted), -line.record.act_date.toordinal()))
    return [
        {
            "code": line.record.metric,
            "record": line.record.id,
            "points": line.counted,
            "act_date": line.record.act_date.isoformat(),
        }
        for line in costs[:WEIGHTS]
    ]
