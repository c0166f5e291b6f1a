"""A run's results as one relation: the scores of its last full run and what later
incremental runs scored again.

A run folder holds ``scores/`` (one row per resident, from a full run: the files the
engine wrote, or hard links to them in the runs that continue from it) and, after an
incremental run, ``overlay.parquet``: every resident scored again since that full run,
each once, with their newest result. A resident's result is their overlay row if they
have one, else their row in ``scores/``; their per-department points are kept apart, in
a ``contributions`` folder beside each results file (``result.write_result``). Every
reader of a run's results goes through :func:`scores_view`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from osmanthus.population.result import FLAT_CONTRIBUTIONS, contributions_path, result_files

__all__ = ["OVERLAY", "base_files", "scores_view"]

OVERLAY = "overlay.parquet"


def base_files(folder: Path) -> list[Path]:
    """The result files of the run folder's full run (``scores/``)."""
    return result_files(folder / "scores")


def scores_view(con: duckdb.DuckDBPyConnection, name: str, folder: Path) -> None:
    """Create the views ``name``, one row per resident (the run's results, without their
    per-department points), and ``name_contributions``, one row per resident and
    department (:data:`~osmanthus.population.result.FLAT_CONTRIBUTIONS`)."""
    files = base_files(folder)
    overlay = folder / OVERLAY
    _results(con, f"{name}_base", files)
    if not overlay.is_file():
        con.sql(f"CREATE VIEW {name} AS SELECT * FROM {name}_base")
        con.sql(f"CREATE VIEW {name}_contributions AS SELECT * FROM {name}_base_contributions")
        return
    _results(con, f"{name}_overlay", [overlay])
    con.sql(
        f"CREATE VIEW {name} AS SELECT b.* FROM {name}_base b "
        f"ANTI JOIN {name}_overlay o USING (resident_id) "
        f"UNION ALL BY NAME SELECT * FROM {name}_overlay"
    )
    con.sql(
        f"CREATE VIEW {name}_contributions AS SELECT c.* FROM {name}_base_contributions c "
        f"ANTI JOIN {name}_overlay o USING (resident_id) "
        f"UNION ALL BY NAME SELECT * FROM {name}_overlay_contributions"
    )


def _results(con: duckdb.DuckDBPyConnection, name: str, files: list[Path]) -> None:
    """Views ``name`` (the files' rows, no list column) and ``name_contributions``: from
    the files kept beside them, or from the list column of files written with it (by
    Spark, or before the contributions were kept apart)."""
    paths = [str(p) for p in files]
    if "contributions" in pq.read_schema(files[0]).names:
        con.read_parquet(paths).create_view(f"{name}_lists")
        con.sql(f"CREATE VIEW {name} AS SELECT * EXCLUDE (contributions) FROM {name}_lists")
        con.sql(
            f"CREATE VIEW {name}_contributions AS SELECT resident_id, c.department, c.points, "
            f"c.gained, c.lost FROM (SELECT resident_id, unnest(contributions) AS c "
            f"FROM {name}_lists)"
        )
        return
    con.read_parquet(paths).create_view(name)
    flat = [str(contributions_path(p)) for p in files if contributions_path(p).is_file()]
    if flat:
        con.read_parquet(flat).create_view(f"{name}_contributions")
    else:  # no file kept any (results with no one counting points)
        con.from_arrow(FLAT_CONTRIBUTIONS.empty_table()).create_view(f"{name}_contributions")
