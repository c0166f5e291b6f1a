"""Writing residents and their records straight into a lake (for the parity suite)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from osmanthus.ledger import StoredRecord, Subject
from osmanthus.population.lake import Lake, LakeWriter

REGISTERED = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@dataclass
class Person:
    """One resident of a generated population."""

    id: int
    subject: Subject
    records: list[StoredRecord] = field(default_factory=list)
    district: str = "gusu"
    #: profile facts recorded later than the subject's (``attribute, value, recorded_at``):
    #: corrections, the newest recorded by "known at" wins (:meth:`known_subject`)
    corrections: list[tuple[str, dt.date, dt.datetime]] = field(default_factory=list)

    def known_subject(self, known_at: dt.datetime | None) -> Subject:
        """The subject as known at ``known_at``: its profile with the corrections recorded
        by then applied, in the order they were recorded."""
        profile = dict(self.subject.profile)
        for attribute, value, recorded in self.corrections:
            if known_at is None or recorded <= known_at:
                profile[attribute] = value
        return replace(self.subject, profile=profile)


def write_lake(path: Path, people: Sequence[Person], buckets: int, exports: int = 1) -> Lake:
    """A lake holding ``people``, written by the lake's own writer in ``exports`` exports
    (the first has every row but the records, which are dealt out among them in turn)."""
    lake = Lake.open(path, create=True, buckets=buckets)
    path.mkdir(parents=True, exist_ok=True)
    tables = lake_tables(people)
    records = tables["records"]
    turn = np.arange(records.num_rows) % exports
    for export in range(exports):
        mine = records.filter(pa.array(turn == export))
        if export == 0:
            append_export(lake, {**tables, "records": mine})
        else:
            empty = {name: table.slice(0, 0) for name, table in tables.items()}
            append_export(lake, {**empty, "records": mine})
    return lake


def append_export(lake: Lake, tables: dict[str, pa.Table]) -> None:
    """One more export of ``tables`` (rows of the lake's tables, without ``bucket``),
    written and published by the lake's own writer and manifest."""
    export = lake.exports + 1
    writers = {}
    for name, table in tables.items():
        writer = writers[name] = LakeWriter(lake, name, export)
        writer.add(table)
        writer.close()
    watermarks = {
        name: max([lake.watermarks[name], *tables[name]["id"].to_pylist()])
        for name in lake.watermarks
    }
    lake.commit(export, watermarks, writers)


def lake_tables(people: Sequence[Person]) -> dict[str, pa.Table]:
    """The lake's four tables holding ``people``."""
    rows = [r for p in people for r in p.records]
    owner = [p.id for p in people for _ in p.records]
    tables = {
        "records": pa.table(
            {
                "id": pa.array([r.id for r in rows], pa.int64()),
                "resident_id": pa.array(owner, pa.int64()),
                "department": pa.array([r.department for r in rows], pa.string()),
                "metric": pa.array([r.metric for r in rows], pa.string()),
                "value": pa.array([float(r.value) for r in rows], pa.float64()),
                "act_date": pa.array([r.act_date for r in rows], pa.date32()),
                "decision_date": pa.array([r.decision_date for r in rows], pa.date32()),
                "recorded_at": pa.array(
                    [r.recorded_at for r in rows], pa.timestamp("us", tz="UTC")
                ),
                "source_ref": pa.array([r.source_ref for r in rows], pa.string()),
                "incident_ref": pa.array([r.incident_ref for r in rows], pa.string()),
                "kind": pa.array([r.kind for r in rows], pa.string()),
                "supersedes_id": pa.array([r.supersedes_id for r in rows], pa.int64()),
                "severity": pa.array([r.severity for r in rows], pa.string()),
            }
        ),
        "residents": pa.table(
            {
                "id": pa.array([p.id for p in people], pa.int64()),
                "district": pa.array([p.district for p in people], pa.string()),
                "birth_year": pa.array([p.subject.birth_year or 1970 for p in people], pa.int16()),
                "registered_at": pa.array([REGISTERED] * len(people), pa.timestamp("us", tz="UTC")),
            }
        ),
    }
    facts = [(p.id, k, v, REGISTERED) for p in people for k, v in p.subject.profile.items()]
    facts += [(p.id, k, v, at) for p in people for k, v, at in p.corrections]  # later ids
    tables["profile_facts"] = pa.table(
        {
            "id": pa.array(list(range(1, len(facts) + 1)), pa.int64()),
            "resident_id": pa.array([f[0] for f in facts], pa.int64()),
            "attribute": pa.array([f[1] for f in facts], pa.string()),
            "value": pa.array([f[2] for f in facts], pa.date32()),
            "recorded_at": pa.array([f[3] for f in facts], pa.timestamp("us", tz="UTC")),
        }
    )
    suspended = [(p.id, s) for p in people for s in p.subject.suspensions]
    tables["suspensions"] = pa.table(
        {
            "id": pa.array([s.id for _, s in suspended], pa.int64()),
            "resident_id": pa.array([owner for owner, _ in suspended], pa.int64()),
            "record_id": pa.array([s.record_id for _, s in suspended], pa.int64()),
            "starts": pa.array([s.starts for _, s in suspended], pa.date32()),
            "lifted": pa.array([s.lifted for _, s in suspended], pa.bool_()),
            "recorded_at": pa.array(
                [s.recorded_at for _, s in suspended], pa.timestamp("us", tz="UTC")
            ),
        }
    )
    return tables
