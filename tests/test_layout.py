"""The shape of the code: a pure core under scoring, and a map that names every package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "osmanthus"
HEAVY = ("sqlalchemy", "alembic", "psycopg", "duckdb", "pyarrow", "pandas", "pyspark")


def test_scoring_loads_no_database_or_dataframe_library() -> None:
    probe = (
        "import sys, osmanthus.scoring, osmanthus.core; "
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_the_probe_would_see_a_heavy_import() -> None:
    probe = "import sys, osmanthus.ledger; print('sqlalchemy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"


def test_docs_architecture_names_every_package_and_top_module() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    packages = sorted(p.parent.name + "/" for p in SRC.glob("*/__init__.py"))
    modules = sorted(
        p.name for p in SRC.glob("*.py") if p.name not in ("__init__.py", "__main__.py")
    )
    missing = [name for name in packages + modules if name not in text]
    assert missing == [], f"docs/architecture.md does not name {missing}"
