"""Where the population engine's CPU goes: its three phases, bucket by bucket, in one
thread (reading a bucket and finding the rows the prune rule keeps, the kernel taking
those rows and scoring them, writing its results), beside the plain Parquet decoding of
the same files.

It uses a lake kept by ``bench/population.py --lake DIR`` (or writes one the same way)
and the example policy on the same scoring date. The figures are process CPU seconds
summed over the buckets; one thread, so they add up to what the engine spends, less the
cost of running two threads at once (about a tenth more at 2 M residents).

    .venv/bin/python bench/population.py --residents 2000000 --runs 1 --lake /tmp/lake-2m
    .venv/bin/python bench/engine_phases.py --lake /tmp/lake-2m

The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from osmanthus.policy import load_policy
from osmanthus.population.compiled import Compiled
from osmanthus.population.engines import read_bucket, read_kept
from osmanthus.population.kernel import score_tables
from osmanthus.population.lake import READ_COLUMNS, TABLES, Lake
from osmanthus.population.memory import kept_for_reuse
from osmanthus.population.prune import prune_rule
from osmanthus.population.result import write_result
from osmanthus.settings import EXAMPLE_POLICY
from population import AS_OF, build_lake


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def phases(lake: Lake, out: Path, buckets: int) -> dict[str, float]:
    compiled = Compiled.build(load_policy(EXAMPLE_POLICY), AS_OF)
    rule = prune_rule(compiled)
    spent = {"read": 0.0, "kernel": 0.0, "write": 0.0, "decode_only": 0.0}
    for bucket in range(buckets):
        started = _cpu_s()
        records, kept = read_kept(lake, "records", bucket, None, rule)
        tables = {t: read_bucket(lake, t, bucket, None, rule) for t in TABLES if t != "records"}
        spent["read"] += _cpu_s() - started
        started = _cpu_s()
        result = score_tables({"records": records, **tables}, compiled, rows=kept)
        spent["kernel"] += _cpu_s() - started
        started = _cpu_s()
        write_result(result, out / f"part-{bucket:05d}.parquet")
        spent["write"] += _cpu_s() - started
        started = _cpu_s()  # after the engine's read of the same files (as warm)
        for table in TABLES:  # the files alone, every column the engine reads
            for path in lake.paths(table, bucket):
                pq.ParquetFile(path, pre_buffer=False).read(
                    columns=READ_COLUMNS[table], use_threads=False
                )
        spent["decode_only"] += _cpu_s() - started
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, help="a lake kept by bench/population.py --lake")
    parser.add_argument("--residents", type=int, default=1_000_000, help="without --lake")
    parser.add_argument("--buckets", type=int, help="only the first N buckets")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="osmanthus-phases-") as folder:
        path = args.lake
        if path is None:
            path = Path(folder) / "lake"
            build_lake(path, args.residents, 3.79, 64)
        lake = Lake.open(path)
        buckets = min(args.buckets or lake.buckets, lake.buckets)
        out = Path(folder) / "out"
        out.mkdir()
        with kept_for_reuse():  # as the engine runs
            spent = phases(lake, out, buckets)
    total = spent["read"] + spent["kernel"] + spent["write"]
    print(f"{buckets} buckets of {path}, one thread, CPU seconds:")
    for name, value in spent.items():
        print(f"  {name:12} {value:7.2f}")
    print(f"  {'engine':12} {total:7.2f}  (read + kernel + write)")
    print(json.dumps({**{k: round(v, 3) for k, v in spent.items()}, "buckets": buckets}))


if __name__ == "__main__":
    main()
