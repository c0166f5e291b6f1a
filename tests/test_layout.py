"""The shape of the code: a pure core under scoring, and a map that names every package."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factories import OPERATOR, POLICY_DIR, TEST_KEY, approve_policy, make_id

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
    probe = "import sys; from osmanthus.ledger import Ledger; print('sqlalchemy' in sys.modules)"
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


#: What a look-up from the command line must not load: the web app, the population
#: engine, the bulk path, the migrations and the signing code (DESIGN.md §5).
NOT_FOR_A_LOOKUP = (
    "alembic",
    "cryptography",
    "duckdb",
    "fastapi",
    "jinja2",
    "numpy",
    "pandas",
    "psycopg",
    "pyarrow",
    "pyspark",
    "rich",
    "starlette",
    "uvicorn",
)


def test_a_lookup_from_the_command_line_loads_only_what_it_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from osmanthus.cli import app
    from osmanthus.ledger import Ledger
    from osmanthus.policy import load_policy
    from osmanthus.settings import get_settings

    env = {
        "OSMANTHUS_DATA_DIR": str(tmp_path / "var"),
        "OSMANTHUS_POLICY_DIR": str(POLICY_DIR),
        "OSMANTHUS_PSEUDONYM_KEY": TEST_KEY.decode(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OSMANTHUS_DATABASE_URL", raising=False)
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    settings = get_settings()
    ledger = Ledger.from_settings(settings, load_policy(settings.policy_dir))
    approve_policy(ledger, population_dir=tmp_path / "pop")
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    ledger.engine.dispose()
    # The console script (``main``, which registers only the scoring commands and leaves
    # with os._exit after the exit handlers) must not load rich either; ``app`` with
    # every command registered must not load the heavy libraries.
    runs = {
        "main": ("main()", NOT_FOR_A_LOOKUP),
        "app": ("app()", tuple(m for m in NOT_FOR_A_LOOKUP if m != "rich")),
    }
    for command in ("score", "explain"):
        for entry, (call, unwanted) in runs.items():
            probe = (
                "import atexit, sys\n"
                f"from osmanthus.cli import {entry}\n"
                f"sys.argv = ['osmanthus', {command!r}, {make_id()!r}]\n"
                "atexit.register(lambda: print('LOADED', "
                f"*(m for m in {unwanted!r} if m in sys.modules)))\n"
                f"{call}\n"
            )
            done = subprocess.run(
                [sys.executable, "-c", probe],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, **env},
            )
            assert done.returncode == 0, done.stderr
            assert done.stdout.splitlines()[-1] == "LOADED", (command, entry)


def test_the_ledger_reads_no_policy_files() -> None:
    """The CLI and the web app load the policy and hand it to the ledger."""
    found = []
    for path in sorted((SRC / "ledger").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            found += [
                f"{path.relative_to(SRC)}: {name}"
                for name in names
                if name.split(".")[-1] in ("load_policy", "tomllib", "loader")
                or name.startswith("osmanthus.policy.loader")
            ]
    assert found == []
