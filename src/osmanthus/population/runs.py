"""A population run: export what is new to the lake, score everyone, keep the statistics.

A run lives in ``<population>/runs/<run id>/``: ``scores/`` (one row per resident: score,
grade, measures, perks, per-department points, next change), after an incremental run
``overlay.parquet`` and ``rescored/`` (:mod:`osmanthus.population.incremental`), and
``run.json`` (what was asked, how long it took, how many residents were scored, the
statistics and what the next run needs to continue from this one). ``run.json`` is
written last, once the scores are synced to disk, and synced itself, so a run without it
never finished and is ignored as "the previous run".
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

import duckdb
import pyarrow.parquet as pq

from osmanthus.durable import fsync_path, sync_tree, write_durably
from osmanthus.ledger import Actor, Ledger, append_entry, database_errors
from osmanthus.policy import PolicySet
from osmanthus.population.compiled import Compiled
from osmanthus.population.engines import ENGINES, EngineError
from osmanthus.population.export import ExportResult, export_ledger
from osmanthus.population.incremental import (
    Continued,
    Previous,
    can_continue,
    continuation,
    link_base,
    read_meta,
    rescore,
    residents_to_score,
)
from osmanthus.population.lake import Lake
from osmanthus.population.result import RESULT_SCHEMA
from osmanthus.population.scrub import readers
from osmanthus.population.snapshot import SNAPSHOT, drop_snapshots, read_residents
from osmanthus.population.stats import Sums, change_between, finish, population_stats, sums_of

__all__ = ["RunResult", "latest_run", "new_run_id", "run_population", "score_population"]


@dataclass(frozen=True)
class RunResult:
    """One finished population run."""

    run_id: str
    folder: Path
    engine: str
    as_of: dt.date
    known_at: dt.datetime | None
    seconds: float
    export: ExportResult | None
    stats: dict[str, Any]
    previous: str | None
    rescored: int = 0  # residents scored (everyone in a full run)
    full: str | None = None  # why everyone was scored; None: an incremental run

    @property
    def scores(self) -> Path:
        """The result files of the last full run (linked here by an incremental run);
        a run's results are these with its overlay: read them through
        :func:`osmanthus.population.scores.scores_view`."""
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
    full: bool = False,
    **options: Any,
) -> RunResult:
    """Export the ledger's new rows, score the residents whose outcome may have changed
    since the last run (everyone with ``full``, or when the last run cannot be continued:
    :mod:`osmanthus.population.incremental`) with ``engine``, keep the stats."""
    if engine not in ENGINES:
        raise EngineError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    started = time.perf_counter()
    export = export_ledger(ledger.engine, population_dir / "lake", actor=actor)
    run_id = new_run_id(engine)
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
    return score_population(
        population_dir / "lake",
        ledger.policy,
        population_dir / "runs",
        as_of=as_of,
        known_at=known_at,
        engine=engine,
        full=full,
        present=known_at is None and as_of == ledger.today(),
        run_id=run_id,
        export=export,
        started=started,
        progress=progress,
        **options,
    )


def new_run_id(engine: str) -> str:
    """A run's id: the time it started (so ids sort in time order) and its engine."""
    return f"{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S%fZ')}-{engine}"


def score_population(
    lake_dir: Path,
    policy: PolicySet,
    runs: Path,
    *,
    as_of: dt.date,
    known_at: dt.datetime | None = None,
    engine: str = "duckdb",
    full: bool = False,
    present: bool = False,
    run_id: str | None = None,
    export: ExportResult | None = None,
    started: float | None = None,
    progress: Callable[[int], None] | None = None,
    **options: Any,
) -> RunResult:
    """Score the lake's residents into a new run folder in ``runs``: only those whose
    outcome may have changed since the newest run there when it can be continued, else
    everyone (the ledger's part, the export and the audit entry, is
    :func:`run_population`'s)."""
    started = time.perf_counter() if started is None else started
    previous = latest_run(runs)
    run_id = run_id or new_run_id(engine)
    folder = runs / run_id
    compiled = Compiled.build(policy, as_of)
    version = compiled.in_force
    perks = [(code, perk.title) for code, perk in version.perks.items()]
    meta = read_meta(previous)
    linked: list[Path] = []
    try:
        with readers(lake_dir):  # no erasure deletes a file read meanwhile
            lake = Lake.open(lake_dir)
            why = (
                "a full run was asked for"
                if full
                else can_continue(meta, policy, lake, as_of, known_at)
            )
            if why is None:
                assert previous is not None and meta is not None
                linked = link_base(previous, folder)  # first: what it reads is its own
                kept = folder / SNAPSHOT
                before = Previous(previous, kept)
                ids = residents_to_score(lake, before, meta, as_of)
                if before.snapshot is not None:  # kept by a DuckDB full run
                    taken = read_residents(before.snapshot, ids, lake.buckets)
                    base_day = dt.date.fromisoformat(meta["continue"]["base_as_of"])
                    before.score_base(taken, Compiled.build(policy, base_day))
                    if engine == "duckdb":
                        options["since"] = (taken, int(meta["continue"]["base_exports"]))
                if ids.size:
                    ENGINES[engine](
                        lake,
                        compiled,
                        None,
                        folder / "rescored",
                        residents=ids,
                        progress=progress,
                        **options,
                    )
                else:
                    none = folder / "rescored" / "none.parquet"
                    none.parent.mkdir(parents=True)
                    pq.write_table(RESULT_SCHEMA.empty_table(), none)
                continued = rescore(before, folder, folder / "rescored", ids)
            else:
                if engine == "duckdb" and known_at is None:  # kept for the runs after it
                    options["snapshot"] = folder / SNAPSHOT
                ENGINES[engine](
                    lake, compiled, known_at, folder / "scores", progress=progress, **options
                )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if why is None:
        assert meta is not None and previous is not None
        stats, sums = _continued_stats(meta, continued, as_of, version.scale.baseline, perks)
        rescored, overlay = int(ids.size), continued.overlay
        basis = meta["continue"]
        base = (
            basis["base_run"],
            int(basis["base_exports"]),
            dt.date.fromisoformat(basis["base_as_of"]),
        )
    else:
        stats, sums = population_stats(
            folder,
            as_of=as_of,
            baseline=version.scale.baseline,
            perks=perks,
            previous=previous,
        )
        rescored, overlay, base = sum(sums.groups.values()), 0, (run_id, lake.exports, as_of)
    seconds = time.perf_counter() - started
    if stats["change"] is not None and previous is not None:
        stats["change"]["previous_run"] = previous.name
    residents = sum(sums.groups.values())
    record = {
        "run": run_id,
        "engine": engine,
        "as_of": as_of.isoformat(),
        "known_at": known_at.isoformat() if known_at else None,
        # a run of the present (today, as known now): what perk notices compare
        "present": present,
        "policy": f"{version.name} {version.version}",
        "seconds": round(seconds, 3),
        "rescored": rescored,
        "full": why,
        "lake_watermarks": lake.watermarks,
        "stats": stats,
        "sums": sums.to_json(),
        "continue": continuation(
            policy, as_of, lake, residents=residents, overlay=overlay, base=base
        ),
    }
    sync_tree(folder, linked)  # the scores are on disk before run.json says they are
    # one line: the encoder in C (with an indent, json encodes in Python: 14 ms of a
    # day's incremental run at 13 M residents, its sums of thousands of groups)
    write_durably(folder / "run.json", json.dumps(record, default=str))
    fsync_path(runs)
    if known_at is None:  # this run is the one the next continues from
        drop_snapshots(runs, keep=folder)
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
        rescored,
        why,
    )


def _continued_stats(
    meta: dict[str, Any],
    continued: Continued,
    as_of: dt.date,
    baseline: int,
    perks: list[tuple[str, str]],
) -> tuple[dict[str, Any], Sums]:
    """The statistics of an incremental run: the previous run's sums, less the residents
    scored again as they were, plus them as they are now."""
    con = duckdb.connect()
    try:
        con.register("before", continued.before)
        con.register("after", continued.after)
        sums = (
            Sums.from_json(meta["sums"])
            .minus(sums_of(con, "before", as_of.year, len(perks)))
            .plus(sums_of(con, "after", as_of.year, len(perks)))
        )
        change = change_between(
            con, "after", "before", baseline, residents=sum(sums.groups.values())
        )
    finally:
        con.close()
    return finish(sums, baseline, perks, change), sums


def latest_run(runs: Path) -> Path | None:
    """The newest finished run in ``runs`` (one with its run.json), or None."""
    if not runs.is_dir():
        return None
    done = sorted(p for p in runs.iterdir() if (p / "run.json").is_file())
    return done[-1] if done else None
