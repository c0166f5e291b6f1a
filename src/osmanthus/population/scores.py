"""A run's results as one relation: the scores of its last full run and what later
incremental runs scored again.

A run folder holds ``scores/`` (one row per resident, from a full run: the files the
engine wrote, or hard links to them in the runs that continue from it) and, after an
incremental run, ``overlay.parquet``: every resident scored again since that full run,
each once, with their newest result. A resident's result is their overlay row if they
have one, else their row in ``scores/``. Every reader of a run's results goes through
:func:`scores_view`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

__all__ = ["OVERLAY", "base_files", "scores_view"]

OVERLAY = "overlay.parquet"


def base_files(folder: Path) -> list[Path]:
    """The result files of the run folder's full run (``scores/``)."""
    return sorted((folder / "scores").rglob("*.parquet"))


def scores_view(con: duckdb.DuckDBPyConnection, name: str, folder: Path) -> None:
    """Create the view ``name``: one row per resident, the run's results."""
    files = [str(p) for p in base_files(folder)]
    overlay = folder / OVERLAY
    if not overlay.is_file():
        con.read_parquet(files).create_view(name)
        return
    con.read_parquet(files).create_view(f"{name}_base")
    con.read_parquet(str(overlay)).create_view(f"{name}_overlay")
    con.sql(
        f"CREATE VIEW {name} AS SELECT b.* FROM {name}_base b "
        f"ANTI JOIN {name}_overlay o USING (resident_id) "
        f"UNION ALL BY NAME SELECT * FROM {name}_overlay"
    )
