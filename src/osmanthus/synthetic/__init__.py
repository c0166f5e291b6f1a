"""Synthetic data: a deterministic demo city calibrated to the published distribution."""

from osmanthus.synthetic.city import CHUNK, DISTRICTS, CityChunk, CitySpec, generate_city
from osmanthus.synthetic.load import LoadResult, load_city
from osmanthus.synthetic.sample_batch import write_sample_batch

__all__ = [
    "CHUNK",
    "DISTRICTS",
    "CityChunk",
    "CitySpec",
    "LoadResult",
    "generate_city",
    "load_city",
    "write_sample_batch",
]
