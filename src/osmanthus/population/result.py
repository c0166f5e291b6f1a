"""What a population run gives per resident: the schema and the columns being filled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from osmanthus.population.columns import I64
from osmanthus.population.compiled import NEVER

__all__ = ["CONTRIBUTION", "RESULT_SCHEMA", "Labels", "Result", "write_result"]

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
RESULT_SCHEMA = pa.schema(
    [
        ("resident_id", pa.int64()),
        ("district", pa.string()),
        ("birth_year", pa.int16()),
        ("score", pa.int32()),
        ("grade", pa.string()),
        ("measure", pa.string()),
        ("measures", pa.int16()),
        ("perks", pa.int64()),
        ("reference", pa.bool_()),
        ("contributions", pa.list_(CONTRIBUTION)),
        # the first day after the scoring date on which the outcome may change with no
        # new row (osmanthus.population.next_change); null: no such day
        ("next_change", pa.date32()),
    ]
)


_TEXT = ["district", "grade", "measure", "contributions.list.element.department"]


def write_result(table: pa.Table, path: Path) -> None:
    """Write results as Parquet: LZ4 (a quarter less CPU than zstd for files a tenth
    larger), dictionaries only for text (numbers in dictionaries are only work) and
    statistics only for ``resident_id``, the one column readers filter on."""
    pq.write_table(
        table, path, compression="lz4", use_dictionary=_TEXT, write_statistics=["resident_id"]
    )


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
        return pa.DictionaryArray.from_arrays(indices, names).cast(pa.string())


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
                "district": residents["district"].cast(pa.string()),
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
