"""Incremental runs: score again only the residents whose outcome may have changed.

A run of the present keeps, per resident, the first day on which their outcome can
change with no new row (``next_change``, :mod:`osmanthus.population.next_change`), and in
``run.json`` what the next run needs to continue from it (:func:`continuation`): the
policy's fingerprint, the lake's export number, erasures and buckets, the first day on
which anyone's outcome may change, and the sums its statistics came from.

A later run of the present continues from the newest run when it can
(:func:`can_continue`: same policy, same lake without erasures since, not past that
day, not a known-at run, and fewer than a tenth of the residents scored again since the
last full run, when that is over 100,000); otherwise it scores everyone. When it
continues, it scores again exactly the residents with a row in the lake's newer part
files (any table) and those whose ``next_change`` has come
(:func:`residents_to_score`); its folder links the full run's result files and writes
``overlay.parquet``: the previous overlay's residents not scored again, and those scored
now (:mod:`osmanthus.population.scores`). Its results
equal a full run's on every resident (``tests/population/test_incremental.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from osmanthus import __version__
from osmanthus.policy import PolicySet
from osmanthus.population.columns import I64
from osmanthus.population.compiled import Compiled
from osmanthus.population.kernel import score_tables
from osmanthus.population.lake import READ_COLUMNS, RESIDENT_KEY, TABLES, Lake
from osmanthus.population.next_change import population_next_change
from osmanthus.population.result import (
    RESULT_SCHEMA,
    read_results,
    with_contributions,
    write_result,
)
from osmanthus.population.scores import OVERLAY, scores_view
from osmanthus.population.snapshot import DUE, SNAPSHOT, due_in_results, due_rows
from osmanthus.population.stats import STATS_COLUMNS

__all__ = [
    "COMPACT_ROWS",
    "COMPACT_SHARE",
    "Continued",
    "Previous",
    "can_continue",
    "continuation",
    "link_base",
    "policy_fingerprint",
    "rescore",
    "residents_to_score",
]

#: once this share of the residents, and more than COMPACT_ROWS, have been scored again
#: since the last full run, the next run scores everyone (every incremental run rewrites
#: the overlay; below that size it costs little)
COMPACT_SHARE = 0.10
COMPACT_ROWS = 100_000
FORMAT = 4


def policy_fingerprint(policy: PolicySet) -> str:
    """A hash of every version of the policy as loaded (not where it was loaded from)."""
    digest = hashlib.sha256()
    for version in policy.versions:
        digest.update(version.model_dump_json(exclude={"source"}).encode("utf-8"))
    return digest.hexdigest()


def continuation(
    policy: PolicySet,
    as_of: dt.date,
    lake: Lake,
    *,
    residents: int,
    overlay: int,
    base: tuple[str, int, dt.date],
) -> dict[str, Any]:
    """What ``run.json`` keeps so that the next run may continue from this one (``base``:
    the last full run, the lake's export number when it ran, and its scoring date)."""
    return {
        "format": FORMAT,
        "policy": policy_fingerprint(policy),
        "next_change": population_next_change(policy, as_of).isoformat(),
        "code": __version__,
        "lake": {
            "id": lake.lake_id,
            "exports": lake.exports,
            "erasures": lake.erasures,
            "buckets": lake.buckets,
            "ledger": lake.ledger,
        },
        "residents": residents,
        "overlay": overlay,
        "base_run": base[0],
        "base_exports": base[1],
        "base_as_of": base[2].isoformat(),
    }


def can_continue(
    meta: dict[str, Any] | None,
    policy: PolicySet,
    lake: Lake,
    as_of: dt.date,
    known_at: dt.datetime | None,
) -> str | None:
    """None when a run may continue from the run described by ``meta`` (its run.json);
    otherwise why everyone must be scored."""
    if meta is None:
        return "no earlier run"
    basis = meta.get("continue")
    if not isinstance(basis, dict) or basis.get("format") != FORMAT or "sums" not in meta:
        return "the last run keeps nothing to continue from"
    if known_at is not None:
        return "a run as known at a past time"
    if meta.get("known_at") is not None:
        return "the last run was as known at a past time"
    if dt.date.fromisoformat(meta["as_of"]) > as_of:
        return f"the last run scored a later date ({meta['as_of']})"
    if as_of >= dt.date.fromisoformat(basis["next_change"]):
        return f"from {basis['next_change']} the policy, a perk or the year changes for everyone"
    if basis["policy"] != policy_fingerprint(policy):
        return "the policy changed"
    if basis.get("code") != __version__:
        return f"the last run was scored by another version of Osmanthus than {__version__}"
    then = basis["lake"]
    if (then.get("id"), then["ledger"], then["buckets"]) != (
        lake.lake_id,
        lake.ledger,
        lake.buckets,
    ):
        return "the lake is another one"
    if then["erasures"] != lake.erasures or then["exports"] > lake.exports:
        return "rows were erased from the lake since"
    if basis["overlay"] > max(COMPACT_SHARE * basis["residents"], COMPACT_ROWS):
        return f"a tenth of the residents were scored again since the full run {basis['base_run']}"
    return None


class Previous:
    """The previous run's results, as an incremental run needs them: the overlay (read
    once) and the full run's results: when it kept a snapshot (a DuckDB run), scored
    again from the rows it kept (:meth:`score_base`), else read through DuckDB."""

    def __init__(self, folder: Path, snapshot: Path) -> None:
        """``folder``: the previous run; ``snapshot``: its full run's snapshot, as linked
        into the new run's folder (a run finishing meanwhile may delete the previous
        run's own links, never the new run's)."""
        self.folder = folder
        overlay = folder / OVERLAY
        self.overlay = read_results(overlay) if overlay.is_file() else None
        self.in_overlay: I64 = (
            np.sort(self.overlay["resident_id"].to_numpy())
            if self.overlay is not None
            else np.empty(0, dtype=np.int64)
        )
        self.snapshot = snapshot if (snapshot / DUE).is_file() else None
        self.base: pa.Table | None = None

    def score_base(self, taken: Mapping[str, pa.Table], compiled: Compiled) -> None:
        """The full run's results of the residents whose snapshot rows are ``taken``
        (:func:`osmanthus.population.snapshot.read_residents`), scored again by the same
        kernel on the same rows, policy and date (``compiled``): a few milliseconds for
        a day's residents, where reading them from the full run's 13 M result rows
        mapped in nearly every page of each column (a page fault costs 10-45 µs here)."""
        tables = {
            table: taken.get(table, columns.empty_table().select(READ_COLUMNS[table]))
            for table, columns in TABLES.items()
        }
        self.base = score_tables(tables, compiled)

    def due(self, as_of: dt.date) -> I64:
        """Residents whose next change has come by ``as_of``."""
        if self.snapshot is None:
            return _query_ids(
                self.folder, "SELECT resident_id FROM p WHERE next_change <= $d", {"d": as_of}
            )
        found = [due_in_results(self.snapshot, as_of)]
        found[0] = found[0][~np.isin(found[0], self.in_overlay)]  # replaced by their overlay row
        if self.overlay is not None:
            found.append(due_rows(self.overlay, as_of))
        return np.concatenate(found)

    def rows(self, residents: I64, columns: list[str] | None = None) -> pa.Table:
        """The previous results of ``residents`` (sorted ids): every column, or at least
        ``columns``."""
        if self.snapshot is None:
            con = duckdb.connect()
            try:
                con.register("wanted", pa.table({"resident_id": pa.array(residents, pa.int64())}))
                scores_view(con, "p", self.folder)
                rows = con.sql("SELECT p.* FROM p SEMI JOIN wanted USING (resident_id)")
                flat = con.sql(
                    "SELECT c.* FROM p_contributions c SEMI JOIN wanted USING (resident_id) "
                    "ORDER BY resident_id, department"
                )
                found = with_contributions(rows.to_arrow_table(), flat.to_arrow_table())
                return found.select(RESULT_SCHEMA.names).cast(RESULT_SCHEMA)
            finally:
                con.close()
        if self.base is None:
            raise ValueError("the full run's rows were not scored again (Previous.score_base)")
        mine = np.isin(residents, self.in_overlay)
        wanted = pa.array(residents[~mine], pa.int64())
        base = self.base.filter(pc.is_in(self.base["resident_id"], wanted))
        if columns is not None:
            base = base.select(columns)
        if self.overlay is None or not mine.any():
            return base
        ids = pa.array(residents[mine], pa.int64())
        over = self.overlay.filter(pc.is_in(self.overlay["resident_id"], ids))
        return pa.concat_tables([base, over.select(base.column_names).cast(base.schema)])

    def overlay_without(self, residents: I64) -> pa.Table | None:
        """The overlay less ``residents`` (None without an overlay)."""
        if self.overlay is None:
            return None
        ids = pa.array(residents, pa.int64())
        return self.overlay.filter(pc.invert(pc.is_in(self.overlay["resident_id"], ids)))


def _query_ids(folder: Path, query: str, params: dict[str, Any]) -> I64:
    con = duckdb.connect()
    try:
        scores_view(con, "p", folder)
        found: I64 = con.execute(query, params).fetchnumpy()["resident_id"]
    finally:
        con.close()
    return np.asarray(found, dtype=np.int64)


def residents_to_score(lake: Lake, previous: Previous, meta: dict[str, Any], as_of: dt.date) -> I64:
    """The residents with a row exported after the previous run, and those whose next
    change has come by ``as_of`` (sorted ids)."""
    exports = int(meta["continue"]["lake"]["exports"])
    parts = [previous.due(as_of)]
    con = duckdb.connect()
    try:
        for table in TABLES:
            paths = [str(p) for p in lake.paths_after(table, exports)]
            if paths:
                key = RESIDENT_KEY[table]
                parts.append(
                    con.execute(
                        f"SELECT DISTINCT {key} FROM read_parquet($p)", {"p": paths}
                    ).fetchnumpy()[key]
                )
    finally:
        con.close()
    found: I64 = np.unique(np.concatenate([np.asarray(p, dtype=np.int64) for p in parts]))
    return found


@dataclass(frozen=True)
class Continued:
    """What an incremental run wrote: how many residents are in the overlay now, and the
    rescored residents' rows before and after (for the statistics)."""

    overlay: int
    before: pa.Table
    after: pa.Table


def link_base(previous: Path, folder: Path) -> list[Path]:
    """Link the full run's result files and snapshot from the run ``previous`` into the
    new run's ``folder`` (hard links; copies where the file system has none). Returns the
    links: their data is on disk already (the run that wrote them synced it)."""
    linked = []
    for kept in ("scores", SNAPSHOT):
        for path in sorted((previous / kept).rglob("*")):
            if path.is_file():
                name = folder / path.relative_to(previous)
                name.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(path, name)
                except OSError:  # another file system, or no hard links: a copy
                    shutil.copy2(path, name)
                else:
                    linked.append(name)
    return linked


def rescore(previous: Previous, folder: Path, scored: Path, residents: I64) -> Continued:
    """Write ``folder``'s overlay: the previous overlay less ``residents``, and the rows in
    ``scored`` (what the engine scored for ``residents``); the full run's files are linked
    already (:func:`link_base`)."""
    after = read_results(scored)
    before = previous.rows(residents, STATS_COLUMNS)
    kept_rows = previous.overlay_without(residents)
    overlay = after
    if kept_rows is not None:
        overlay = pa.concat_tables([kept_rows.select(after.schema.names).cast(after.schema), after])
    write_result(overlay, folder / OVERLAY)
    return Continued(overlay.num_rows, before, after)


def read_meta(folder: Path | None) -> dict[str, Any] | None:
    """A finished run's run.json (None for no run, or one that cannot be read)."""
    if folder is None:
        return None
    try:
        meta: dict[str, Any] = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta
