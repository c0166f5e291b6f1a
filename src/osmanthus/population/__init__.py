"""Population engine: the whole population scored at once, from a Parquet lake."""

from osmanthus.population.engines import ENGINES, EngineError
from osmanthus.population.export import ExportResult, export_ledger
from osmanthus.population.lake import Lake, LakeError
from osmanthus.population.runs import RunResult, latest_run, run_population
from osmanthus.population.stats import population_stats

__all__ = [
    "ENGINES",
    "EngineError",
    "ExportResult",
    "Lake",
    "LakeError",
    "RunResult",
    "export_ledger",
    "latest_run",
    "population_stats",
    "run_population",
]
