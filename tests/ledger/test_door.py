"""One door: no module outside ``osmanthus.ledger`` writes the ledger's tables.

The source tree is walked (its syntax, not a search of the text): a module outside the
ledger package fails the test when it imports SQLAlchemy's writing constructs
(``insert``, ``update``, ``delete``, a dialect's insert), calls a table's own
``.insert()/.update()/.delete()``, or holds SQL text that writes one of the ledger's
tables. Reads are allowed (the lake export reads the tables it exports).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from osmanthus.ledger.schema import metadata

SRC = Path(__file__).resolve().parents[2] / "src" / "osmanthus"
TABLES = set(metadata.tables)
_WRITE_SQL = re.compile(
    r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?|ALTER\s+TABLE|DROP\s+TABLE)"
    r"\s+(\w+)",
    re.IGNORECASE,
)
_WRITERS = {"insert", "update", "delete"}


def writes(source: str) -> list[str]:
    """What in ``source`` writes a ledger table (empty when nothing does)."""
    found = []
    tree = ast.parse(source)
    aliases = {  # names the sqlalchemy module (or a submodule) is imported as
        a.asname or a.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for a in node.names
        if a.name.startswith("sqlalchemy")
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            found += [f"imports sqlalchemy {a.name}" for a in node.names if a.name in _WRITERS]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _WRITERS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in TABLES | aliases
        ):
            found.append(f"calls {node.func.value.id}.{node.func.attr}()")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            for match in _WRITE_SQL.finditer(node.value):
                if match.group(1).lower() in TABLES:
                    found.append(f"SQL writing {match.group(1)}: {match.group(0)!r}")
    return found


def test_no_module_outside_the_ledger_writes_its_tables() -> None:
    offenders = {
        str(path.relative_to(SRC)): found
        for path in sorted(SRC.rglob("*.py"))
        if "ledger" not in path.relative_to(SRC).parts[:1]
        and (found := writes(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_the_walk_finds_each_way_around_the_door() -> None:
    """The checker itself can fail: each way of writing a table is found."""
    attacks = [
        "from sqlalchemy import insert\n",
        "from sqlalchemy import update as u\n",
        "from sqlalchemy.dialects.postgresql import insert\n",
        "records.insert()\n",
        "import sqlalchemy as sa\nsa.insert(records)\n",
        "import sqlalchemy\nsqlalchemy.delete(disputes)\n",
        "api_keys.update().values(revoked_at=None)\n",
        'conn.exec_driver_sql("INSERT INTO records (id) VALUES (1)")\n',
        'text("update api_keys set revoked_at = null")\n',
        'conn.execute(text("DELETE FROM audit_log"))\n',
        'sql = f"""\nINSERT   INTO\n resident_credentials (x) VALUES (1)"""\n',
        'conn.exec_driver_sql("TRUNCATE records")\n',
    ]
    for source in attacks:
        assert writes(source), source
    assert not writes('conn.execute(text("SELECT * FROM records"))\nrecords.select()\n')
    assert not writes('text("INSERT INTO intake_stage (k) VALUES (1)")\n')  # not a ledger table
