"""Population engine: the whole population scored at once, from a Parquet lake."""

from osmanthus.population.export import ExportResult, export_ledger
from osmanthus.population.lake import Lake, LakeError

__all__ = ["ExportResult", "Lake", "LakeError", "export_ledger"]
