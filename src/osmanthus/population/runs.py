"""A population run: export what is new to the lake, score everyone, keep the statistics.

A run lives in ``<population>/runs/<run id>/``: ``scores/`` (one row per resident: score,
grade, measures, perks, per-department points) and ``run.json`` (what was asked, how
long it took, the statistics). ``run.json`` is written last, once the scores are synced
to disk, and synced itself, so a run without it never finished and is ignored as "the
previous run".
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osmanthus.durable import fsync_path, sync_tree, write_durably
from osmanthus.ledger import Actor, Ledger, append_entry, database_errors
from osmanthus.population.compiled import Compiled
from osmanthus.population.engines import ENGINES, EngineError
from osmanthus.population.export import ExportResult, export_ledger
from osmanthus.population.lake import Lake
from osmanthus.population.scrub import readers
from osmanthus.population.stats import population_stats

__all__ = ["RunResult", "latest_run", "run_population"]


@dataclass(frozen=True)
class RunResult:
    """One finished population run."""

    run_id: str
    folder: Path
    engine: str
    as_of: dt.date
    known_at: dt.datetime | None
    seconds: float
    export: ExportResult
    stats: dict[str, Any]
    previous: str | None

    @property
    def scores(self) -> Path:
        return self.folder / "scores"


def run_population(
    ledger: Ledger,
    population_dir: Path,
    *,
    as_of: dt.date,
    actor: Actor,
    engine: str = "duckdb",
    known_at: dt.datetime | None = None,
    purpose: str = "population statistics",
    progress: Callable[[int], None] | None = None,
    **options: Any,
) -> RunResult:
    """Export the ledger's new rows, score every resident with ``engine``, keep the stats."""
    if engine not in ENGINES:
        raise EngineError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    started = time.perf_counter()
    export = export_ledger(ledger.engine, population_dir / "lake", actor=actor)
    runs = population_dir / "runs"
    previous = latest_run(runs)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    run_id = f"{stamp}-{engine}"
    folder = runs / run_id
    with database_errors("population run"), ledger.engine.begin() as conn:
        append_entry(
            conn,
            actor=str(actor),
            action="population.read",
            purpose=purpose,
            detail={
                "run": run_id,
                "engine": engine,
                "as_of": as_of.isoformat(),
                "known_at": known_at.isoformat() if known_at else None,
            },
        )
    compiled = Compiled.build(ledger.policy, as_of)
    try:
        with readers(population_dir / "lake"):  # no erasure deletes a file read meanwhile
            lake = Lake.open(population_dir / "lake")
            ENGINES[engine](
                lake, compiled, known_at, folder / "scores", progress=progress, **options
            )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    version = compiled.in_force
    stats = population_stats(
        folder / "scores",
        as_of=as_of,
        baseline=version.scale.baseline,
        perks=[(code, perk.title) for code, perk in version.perks.items()],
        previous=previous / "scores" if previous else None,
    )
    seconds = time.perf_counter() - started
    if stats["change"] is not None and previous is not None:
        stats["change"]["previous_run"] = previous.name
    record = {
        "run": run_id,
        "engine": engine,
        "as_of": as_of.isoformat(),
        "known_at": known_at.isoformat() if known_at else None,
        # a run of the present (today, as known now): what perk notices compare
        "present": known_at is None and as_of == ledger.today(),
        "policy": f"{version.name} {version.version}",
        "seconds": round(seconds, 3),
        "lake_watermarks": lake.watermarks,
        "stats": stats,
    }
    sync_tree(folder / "scores")  # the scores are on disk before run.json says they are
    write_durably(folder / "run.json", json.dumps(record, indent=1, default=str))
    fsync_path(runs)
    return RunResult(
        run_id,
        folder,
        engine,
        as_of,
        known_at,
        seconds,
        export,
        stats,
        previous.name if previous else None,
    )


def latest_run(runs: Path) -> Path | None:
    """The newest finished run in ``runs`` (one with its run.json), or None."""
    if not runs.is_dir():
        return None
    done = sorted(p for p in runs.iterdir() if (p / "run.json").is_file())
    return done[-1] if done else None
