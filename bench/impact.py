"""The impact report of a policy proposal against a population run, on the same ledger.

Target (issue 16): the impact report costs at most two population runs' time. A city of
``--residents`` is loaded into a fresh SQLite ledger whose first policy (the Suzhou
example) is approved; a proposal adds a version 40 days ahead with a new baseline and a
new perk threshold (so every resident's result differs). Then, ``--runs`` times,
interleaved: **run**, one population run (export of what is new, the engine over the
lake, the statistics), and **impact**, the impact report (export, the engine under the
rules in force and under the proposed ones, the resident-by-resident comparison). Wall
time and this process's CPU time (user + system, DuckDB's threads included); medians.
The last line printed is one JSON object of the figures.

    .venv/bin/python bench/impact.py --residents 1000000 --runs 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from factories import OPERATOR, TEST_KEY, approve_policy  # noqa: E402
from osmanthus.governance import Bundle, approved_policy  # noqa: E402
from osmanthus.ledger import Ledger, connect, migrate  # noqa: E402
from osmanthus.policy import load_policy  # noqa: E402
from osmanthus.population import run_population  # noqa: E402
from osmanthus.population.impact import impact_report  # noqa: E402
from osmanthus.settings import EXAMPLE_POLICY  # noqa: E402
from osmanthus.synthetic import CitySpec, load_city  # noqa: E402


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(step: Callable[[], Any]) -> tuple[float, float]:
    wall, used = time.perf_counter(), cpu()
    step()
    return time.perf_counter() - wall, cpu() - used


def proposed_folder(folder: Path, effective: dt.date) -> Path:
    shutil.copytree(EXAMPLE_POLICY, folder)
    text = (folder / "2020-01-01.toml").read_text(encoding="utf-8")
    text = text.replace("effective = 2020-01-01\n", f"effective = {effective}\n", 1)
    text = text.replace('version = "2026.1"', 'version = "2027.1"')
    text = text.replace("baseline = 100\n", "baseline = 102\n", 1)
    text = text.replace("min_score = 110", "min_score = 104", 1)
    (folder / f"{effective}.toml").write_text(text, encoding="utf-8")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="osmanthus-impact-"))
    try:
        engine = connect(f"sqlite:///{home / 'ledger.db'}")
        migrate(engine)
        ledger = Ledger(engine, load_policy(EXAMPLE_POLICY), TEST_KEY)
        ledger.sync_departments(OPERATOR)
        approve_policy(ledger, population_dir=home / "first")
        started = time.perf_counter()
        loaded = load_city(ledger, CitySpec(residents=args.residents, as_of=ledger.today()))
        print(
            f"city: {loaded.residents:,} residents, {loaded.records:,} records "
            f"({time.perf_counter() - started:.0f} s to load)"
        )
        effective = ledger.today() + dt.timedelta(days=40)
        proposed = Bundle.from_folder(proposed_folder(home / "proposed", effective)).load()
        current = approved_policy(engine)
        assert current is not None
        population = home / "population"
        run_population(ledger, population, as_of=effective, actor=OPERATOR)  # the lake, current
        times: dict[str, list[tuple[float, float]]] = {"run": [], "impact": []}
        report: dict[str, Any] = {}
        for _ in range(args.runs):
            times["run"].append(
                timed(lambda: run_population(ledger, population, as_of=effective, actor=OPERATOR))
            )

            def impact() -> None:
                report.update(
                    impact_report(
                        ledger,
                        current,
                        proposed,
                        as_of=effective,
                        population_dir=population,
                        actor=OPERATOR,
                    )
                )

            times["impact"].append(timed(impact))
        print(f"medians of {args.runs} interleaved runs:")
        medians = {}
        for name, found in times.items():
            wall = statistics.median(w for w, _ in found)
            used = statistics.median(c for _, c in found)
            medians[name] = (wall, used)
            print(f"  {name:8} {wall:7.2f} s  {used:7.2f} CPU-s")
        ratio_wall = medians["impact"][0] / medians["run"][0]
        ratio_cpu = medians["impact"][1] / medians["run"][1]
        print(f"impact / run: {ratio_wall:.2f}x wall, {ratio_cpu:.2f}x CPU (target: at most 2x)")
        print(
            f"report: {report['changed']:,} of {report['residents']:,} residents change; "
            f"{report['up_across_baseline']} rise across the baseline"
        )
        print(  # one line a script can compare runs by: medians, wall and CPU seconds
            json.dumps(
                {
                    "residents": loaded.residents,
                    "records": loaded.records,
                    "runs": args.runs,
                    **{
                        name: {"wall_s": round(wall, 3), "cpu_s": round(used, 3)}
                        for name, (wall, used) in medians.items()
                    },
                    "impact_over_run_wall": round(ratio_wall, 3),
                    "impact_over_run_cpu": round(ratio_cpu, 3),
                    "changed": report["changed"],
                    "up_across_baseline": report["up_across_baseline"],
                }
            )
        )
        engine.dispose()
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
