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
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from osmanthus.policy import PolicySet
from osmanthus.population.columns import I64
from osmanthus.population.lake import RESIDENT_KEY, TABLES, Lake
from osmanthus.population.next_change import population_next_change
from osmanthus.population.scores import OVERLAY, base_files, scores_view

__all__ = [
    "COMPACT_ROWS",
    "COMPACT_SHARE",
    "Continued",
    "can_continue",
    "continuation",
    "policy_fingerprint",
    "rescore",
    "residents_to_score",
]

#: once this share of the residents, and more than COMPACT_ROWS, have been scored again
#: since the last full run, the next run scores everyone (every incremental run rewrites
#: the overlay; below that size it costs little)
COMPACT_SHARE = 0.10
COMPACT_ROWS = 100_000
FORMAT = 1
_PART = re.compile(r"part-(\d+)\.parquet$")


def policy_fingerprint(policy: PolicySet) -> str:
    """A hash of every version of the policy as loaded (not where it was loaded from)."""
    digest = hashlib.sha256()
    for version in policy.versions:
        digest.update(version.model_dump_json(exclude={"source"}).encode("utf-8"))
    return digest.hexdigest()


def continuation(
    policy: PolicySet, as_of: dt.date, lake: Lake, *, residents: int, overlay: int, base: str
) -> dict[str, Any]:
    """What ``run.json`` keeps so that the next run may continue from this one."""
    return {
        "format": FORMAT,
        "policy": policy_fingerprint(policy),
        "next_change": population_next_change(policy, as_of).isoformat(),
        "lake": {
            "exports": lake.exports,
            "erasures": lake.erasures,
            "buckets": lake.buckets,
            "ledger": lake.ledger,
        },
        "residents": residents,
        "overlay": overlay,
        "base_run": base,
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
    then = basis["lake"]
    if (then["ledger"], then["buckets"]) != (lake.ledger, lake.buckets):
        return "the lake is another one"
    if then["erasures"] != lake.erasures or then["exports"] > lake.exports:
        return "rows were erased from the lake since"
    if basis["overlay"] > max(COMPACT_SHARE * basis["residents"], COMPACT_ROWS):
        return f"a tenth of the residents were scored again since the full run {basis['base_run']}"
    return None


def residents_to_score(lake: Lake, previous: Path, meta: dict[str, Any], as_of: dt.date) -> I64:
    """The residents with a row exported after the previous run, and those whose next
    change has come by ``as_of`` (sorted ids)."""
    exports = int(meta["continue"]["lake"]["exports"])
    con = duckdb.connect()
    try:
        parts = []
        for table in TABLES:  # an export's files are named by its number, and hold only
            paths = [str(p) for p in lake.paths(table) if _export_of(p) > exports]  # new rows
            if paths:
                key = RESIDENT_KEY[table]
                parts.append(
                    con.execute(
                        f"SELECT DISTINCT {key} FROM read_parquet($p)", {"p": paths}
                    ).fetchnumpy()[key]
                )
        scores_view(con, "p", previous)
        parts.append(
            con.execute(
                "SELECT resident_id FROM p WHERE next_change <= $d", {"d": as_of}
            ).fetchnumpy()["resident_id"]
        )
    finally:
        con.close()
    found: I64 = np.unique(np.concatenate([np.asarray(p, dtype=np.int64) for p in parts]))
    return found


def _export_of(path: Path) -> int:
    found = _PART.search(path.name)
    return int(found.group(1)) if found else 0


@dataclass(frozen=True)
class Continued:
    """What an incremental run wrote: how many residents are in the overlay now, and the
    rescored residents' rows before and after (for the statistics)."""

    overlay: int
    before: pa.Table
    after: pa.Table


def rescore(previous: Path, folder: Path, scored: Path, residents: I64) -> Continued:
    """Write ``folder``'s results: the full run's files linked from ``previous``, and the
    overlay (the previous overlay less ``residents``, and the rows in ``scored``: what the
    engine scored for ``residents``)."""
    target = folder / "scores"
    target.mkdir(parents=True, exist_ok=True)
    for path in base_files(previous):
        name = target / path.relative_to(previous / "scores")
        name.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, name)
        except OSError:  # another file system, or no hard links: a copy
            shutil.copy2(path, name)
    after = pq.ParquetDataset(str(scored)).read()
    con = duckdb.connect()
    try:
        con.register("wanted", pa.table({"resident_id": pa.array(residents, pa.int64())}))
        scores_view(con, "p", previous)
        before = con.sql("SELECT p.* FROM p SEMI JOIN wanted USING (resident_id)").to_arrow_table()
        old = previous / OVERLAY
        if old.is_file():
            kept = con.sql(
                "SELECT o.* FROM read_parquet($f) o ANTI JOIN wanted USING (resident_id)",
                params={"f": str(old)},
            ).to_arrow_table()
            overlay = pa.concat_tables([kept.select(after.schema.names).cast(after.schema), after])
        else:
            overlay = after
    finally:
        con.close()
    pq.write_table(overlay, folder / OVERLAY, compression="zstd")
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
