"""Loading the synthetic city into the ledger through its validated bulk path."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from osmanthus.ledger import Actor, Ledger, bulk_load
from osmanthus.synthetic.city import CitySpec, generate_city

__all__ = ["LoadResult", "load_city"]

BAND_NAMES = {1: "above", 0: "at", -1: "below"}


@dataclass
class LoadResult:
    """What was loaded, how fast, and a few synthetic ID numbers per band to try."""

    residents: int = 0
    records: int = 0
    seconds: float = 0.0
    load_seconds: float = 0.0
    examples: dict[str, list[str]] = field(default_factory=dict)
    sample_ids: list[str] = field(default_factory=list)  # the first residents, for a sample batch

    @property
    def rows_per_second(self) -> float:
        """Residents plus records generated and written per second."""
        return (self.residents + self.records) / self.seconds if self.seconds else 0.0

    @property
    def load_rows_per_second(self) -> float:
        """Residents plus records validated and written per second (generation excluded)."""
        rows = self.residents + self.records
        return rows / self.load_seconds if self.load_seconds else 0.0


def load_city(
    ledger: Ledger,
    spec: CitySpec,
    *,
    progress: Callable[[int], None] | None = None,
    examples_per_band: int = 3,
) -> LoadResult:
    """Generate the city chunk by chunk and bulk-load each chunk in its own transaction."""
    actor = Actor("operator", "synthetic-city")
    result = LoadResult()
    started = time.perf_counter()
    for chunk in generate_city(spec, ledger.policy.in_force(spec.as_of)):
        loading = time.perf_counter()
        bulk_load(
            ledger,
            chunk.people,
            chunk.records,
            actor=actor,
            batch_id=f"synthetic-{spec.seed}-{chunk.start}",
        )
        result.load_seconds += time.perf_counter() - loading
        result.residents += len(chunk.people)
        result.records += len(chunk.records)
        if not result.sample_ids:
            result.sample_ids = chunk.people.national_id[:1000].astype(str).tolist()
        for code, band in BAND_NAMES.items():
            picked = result.examples.setdefault(band, [])
            for row in (chunk.band == code).nonzero()[0][: examples_per_band - len(picked)]:
                picked.append(str(chunk.people.national_id[row]))
        if progress:
            progress(len(chunk.people))
    result.seconds = time.perf_counter() - started
    return result
