"""What a population run gives per resident: the schema and the columns being filled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from osmanthus.population.columns import I64
from osmanthus.population.compiled import NEVER

__all__ = [
    "CONTRIBUTION",
    "FLAT_CONTRIBUTIONS",
    "RESULT_SCHEMA",
    "Labels",
    "Result",
    "contributions_path",
    "flat_contributions",
    "read_results",
    "result_files",
    "with_contributions",
    "write_result",
]

#: one department's points counting now for one resident: the net, and the gains and the
#: losses summed record by record (a gain and a loss from one department do not cancel)
CONTRIBUTION = pa.struct(
    [
        ("department", pa.string()),
        ("points", pa.int32()),
        ("gained", pa.int32()),
        ("lost", pa.int32()),
    ]
)
_DICTIONARY = pa.dictionary(pa.int32(), pa.string())
#: text as dictionaries, as the lake's district is read and grades are made: casting them
#: to plain strings and the Parquet writer hashing them back into dictionaries cost a
#: run 5 % of its CPU at 1 M residents (0.851 against 0.810 CPU-s, medians of 18 runs)
RESULT_SCHEMA = pa.schema(
    [
        ("resident_id", pa.int64()),
        ("district", _DICTIONARY),
        ("birth_year", pa.int16()),
        ("score", pa.int32()),
        ("grade", _DICTIONARY),
        ("measure", _DICTIONARY),
        ("measures", pa.int16()),
        ("perks", pa.int64()),
        ("reference", pa.bool_()),
        ("contributions", pa.list_(CONTRIBUTION)),
        # the first day after the scoring date on which the outcome may change with no
        # new row (osmanthus.population.next_change); null: no such day
        ("next_change", pa.date32()),
    ]
)


#: the per-department points of a results file, one row per resident and department, in
#: a file of the same name in the ``contributions`` folder beside it
FLAT_CONTRIBUTIONS = pa.schema(
    [("resident_id", pa.int64()), *((f.name, f.type) for f in CONTRIBUTION)]
)
_TEXT = ["district", "grade", "measure"]
_FOLDER = "contributions"


def contributions_path(path: Path) -> Path:
    """Where the per-department points of the results file ``path`` are kept."""
    return path.parent / _FOLDER / path.name


def result_files(folder: Path) -> list[Path]:
    """The results files in ``folder`` (any depth; the contributions beside them not)."""
    return sorted(p for p in folder.rglob("*.parquet") if _FOLDER not in p.parent.parts)


def write_result(table: pa.Table, path: Path) -> None:
    """Write results (:data:`RESULT_SCHEMA`) as two Parquet files: every column but the
    contributions in ``path``, and the contributions flat, one row per resident and
    department, in :func:`contributions_path` (a list column costs Parquet's writer about
    125 ns a resident for its nesting levels, 60 % of the results' writing at 13 M
    residents, although a resident has a quarter of a department on average). LZ4 (a
    quarter less CPU than zstd for files a tenth larger), dictionaries only for text
    (numbers in dictionaries are only work), statistics only for ``resident_id``, the
    one column readers filter on, and that column as differences (ascending ids a
    bucket apart: a third of the CPU of plain values compressed)."""
    options: dict[str, Any] = {
        "compression": "lz4",
        "write_statistics": ["resident_id"],
        "column_encoding": {"resident_id": "DELTA_BINARY_PACKED"},
    }
    flat = flat_contributions(table)
    pq.write_table(table.drop_columns(["contributions"]), path, use_dictionary=_TEXT, **options)
    target = contributions_path(path)
    target.parent.mkdir(exist_ok=True)
    pq.write_table(flat, target, use_dictionary=["department"], **options)


def flat_contributions(table: pa.Table) -> pa.Table:
    """The ``contributions`` lists of result rows as :data:`FLAT_CONTRIBUTIONS` rows."""
    lists = table["contributions"].combine_chunks()
    values = pc.list_flatten(lists)
    owners = table["resident_id"].take(pc.list_parent_indices(lists))
    columns = [owners, *(values.field(f.name) for f in CONTRIBUTION)]
    return pa.Table.from_arrays(columns, schema=FLAT_CONTRIBUTIONS)


def with_contributions(table: pa.Table, flat: pa.Table) -> pa.Table:
    """Result rows without their ``contributions`` column, given it back from ``flat``
    (:data:`FLAT_CONTRIBUTIONS` rows of those residents, each resident's in order)."""
    n = table.num_rows
    rid = table["resident_id"]
    found = pc.index_in(flat["resident_id"], value_set=rid)
    if found.null_count:
        raise ValueError("contributions of a resident not among the results")
    at = found.to_numpy().astype(np.int64)
    order = np.argsort(at, kind="stable")
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(at, minlength=n), out=offsets[1:])
    values = pa.StructArray.from_arrays(
        [flat[f.name].combine_chunks().take(pa.array(order)) for f in CONTRIBUTION],
        fields=list(CONTRIBUTION),
    )
    lists = pa.ListArray.from_arrays(pa.array(offsets), values)
    return table.append_column(RESULT_SCHEMA.field("contributions"), lists)


def read_results(path: Path) -> pa.Table:
    """The results in ``path`` (a results file, or a folder of them) as
    :data:`RESULT_SCHEMA` rows: the contributions kept beside a file put back as its
    rows' lists (a file written with the list column, by Spark or before the
    contributions were kept apart, has them already)."""
    files = [path] if path.is_file() else result_files(path)
    parts = []
    for file in files:
        rows = pq.read_table(file)
        if "contributions" not in rows.column_names:
            beside = contributions_path(file)
            flat = pq.read_table(beside) if beside.is_file() else FLAT_CONTRIBUTIONS.empty_table()
            rows = with_contributions(rows, flat.cast(FLAT_CONTRIBUTIONS))
        parts.append(rows.select(RESULT_SCHEMA.names).cast(RESULT_SCHEMA))
    return pa.concat_tables(parts) if parts else RESULT_SCHEMA.empty_table()


class Labels:
    """A text column being filled: a code per resident (-1: null) into a list of names,
    so the column path sets a whole bucket's grades with one array operation."""

    def __init__(self, n: int) -> None:
        self.codes = np.full(n, -1, dtype=np.int32)
        self.names: list[str] = []
        self._index: dict[str, int] = {}

    def code(self, name: str | None) -> int:
        """The code of ``name`` (-1 for None), added to the names when new."""
        if name is None:
            return -1
        found = self._index.get(name)
        if found is None:
            found = self._index[name] = len(self.names)
            self.names.append(name)
        return found

    def set(self, slot: int, name: str | None) -> None:
        self.codes[slot] = self.code(name)

    def array(self) -> pa.Array:
        indices = pa.array(self.codes, pa.int32(), mask=self.codes < 0)
        names = pa.array(self.names, pa.string())
        return pa.DictionaryArray.from_arrays(indices, names)


class Result:
    """Per-resident outputs, filled by both paths."""

    def __init__(self, n: int) -> None:
        self.score = np.zeros(n, dtype=np.int32)
        self.scored = np.zeros(n, dtype=bool)
        self.grade = Labels(n)
        self.measure = Labels(n)
        self.measures = np.zeros(n, dtype=np.int16)
        self.perks = np.zeros(n, dtype=np.int64)
        self.reference = np.zeros(n, dtype=bool)
        self.next_change = np.full(n, NEVER, dtype=np.int32)
        # per-department points as flat columns: resident slot, department, gained, lost
        self.parts: list[tuple[I64, pa.Array, I64, I64]] = []

    def table(self, rid: I64, residents: pa.Table) -> pa.Table:
        return pa.table(
            {
                "resident_id": pa.array(rid, pa.int64()),
                # one dictionary already: read_bucket combines a bucket's exports, and
                # the engine's groups of buckets unify theirs
                "district": residents["district"],
                "birth_year": residents["birth_year"].cast(pa.int16()),
                "score": pa.array(self.score, pa.int32(), mask=~self.scored),
                "grade": self.grade.array(),
                "measure": self.measure.array(),
                "measures": pa.array(self.measures, pa.int16()),
                "perks": pa.array(self.perks, pa.int64()),
                "reference": pa.array(self.reference, pa.bool_()),
                "contributions": self._contributions(),
                "next_change": pa.array(
                    self.next_change, pa.int32(), mask=self.next_change == NEVER
                ).cast(pa.date32()),
            },
            schema=RESULT_SCHEMA,
        )

    def _contributions(self) -> pa.ListArray:
        n = len(self.score)
        if not self.parts:
            return pa.ListArray.from_arrays(
                pa.array(np.zeros(n + 1, np.int32)), pa.array([], CONTRIBUTION)
            )
        slots = np.concatenate([p[0] for p in self.parts])
        names = pa.concat_arrays([p[1] for p in self.parts])
        gained = np.concatenate([p[2] for p in self.parts])
        lost = np.concatenate([p[3] for p in self.parts])
        order = np.argsort(slots, kind="stable")  # one run per part: about linear
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(slots, minlength=n), out=offsets[1:])
        values = pa.StructArray.from_arrays(
            [
                names.take(pa.array(order)),
                pa.array((gained + lost)[order], pa.int32()),
                pa.array(gained[order], pa.int32()),
                pa.array(lost[order], pa.int32()),
            ],
            fields=list(CONTRIBUTION),
        )
        return pa.ListArray.from_arrays(pa.array(offsets), values)
