"""The Spark engine on a real standalone cluster (a master and two workers started here
from the pyspark package's own launcher), not only in local mode: the same results as
the DuckDB engine on a city's lake, and the same results when a worker and its executor
are killed (SIGKILL) while the run is scoring."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from factories import OPERATOR, POLICY_DIR, TEST_KEY, FixedClock
from osmanthus.ledger import Ledger, connect, migrate
from osmanthus.policy import load_policy
from osmanthus.population.compiled import Compiled
from osmanthus.population.engines import run_duckdb, run_spark, spark_session
from osmanthus.population.export import export_ledger
from osmanthus.population.lake import Lake
from osmanthus.population.result import read_results
from osmanthus.synthetic import CitySpec, load_city
from spark_cluster import Cluster, start_cluster

AS_OF = dt.date(2026, 11, 1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    import osmanthus.population.engines as engines

    running = start_cluster(tmp_path_factory.mktemp("spark-cluster"), workers=2)
    try:
        yield running
    finally:
        if engines._SESSION is not None:  # the cluster's session ends with the cluster
            engines._SESSION.stop()
            engines._SESSION = None
        running.stop()


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Compiled, Path]:
    """A 2,000-resident city's lake in 8 buckets, and the DuckDB engine's results on it."""
    home = tmp_path_factory.mktemp("city")
    engine = connect(f"sqlite:///{home / 'ledger.db'}")
    migrate(engine)
    ledger = Ledger(engine, load_policy(POLICY_DIR), TEST_KEY, clock=FixedClock())
    ledger.sync_departments(OPERATOR)
    load_city(ledger, CitySpec(residents=2_000, seed=11, as_of=AS_OF))
    export_ledger(engine, home / "lake", actor=OPERATOR, buckets=8)
    lake = Lake.open(home / "lake")
    compiled = Compiled.build(ledger.policy, AS_OF)
    run_duckdb(lake, compiled, None, home / "duckdb", threads=1)
    engine.dispose()
    return lake, compiled, home / "duckdb"


def rows(folder: Path) -> list[dict[str, Any]]:
    """Every resident's result; a resident's departments in name order (each engine
    lists them in the order it met them)."""
    found = read_results(folder).to_pylist()
    for row in found:
        row["contributions"] = sorted(row["contributions"], key=lambda c: c["department"])
    return sorted(found, key=lambda row: row["resident_id"])


def test_a_cluster_scores_every_resident_as_duckdb_does(
    cluster: Cluster, city: tuple[Lake, Compiled, Path], tmp_path: Path
) -> None:
    lake, compiled, duckdb_scores = city
    run_spark(lake, compiled, None, tmp_path / "spark", master=cluster.url)
    executors = spark_session(cluster.url).sparkContext._jsc.sc().getExecutorMemoryStatus()
    assert executors.size() == 3  # the driver and one executor on each worker
    found, expected = rows(tmp_path / "spark"), rows(duckdb_scores)
    assert len(found) == 2_000
    assert found == expected


def test_a_worker_killed_during_a_run_does_not_change_the_results(
    cluster: Cluster, city: tuple[Lake, Compiled, Path], tmp_path: Path
) -> None:
    """Runs last: the cluster has one worker afterwards."""
    lake, compiled, duckdb_scores = city
    tracker = spark_session(cluster.url).sparkContext.statusTracker()
    killed: list[tuple[list[int], list[int]]] = []

    def kill_while_scoring() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            stages = list(tracker.getActiveStageIds())
            if stages and cluster.has_executor(1):  # under load an executor starts late
                killed.append((stages, cluster.kill_worker(1)))
            time.sleep(0.01)

    killer = threading.Thread(target=kill_while_scoring)
    killer.start()
    run_spark(lake, compiled, None, tmp_path / "spark", master=cluster.url)
    killer.join()
    assert killed, "the run ended before a stage was seen running"
    stages, pids = killed[0]
    assert stages and len(pids) >= 2  # the worker and its executor
    assert cluster.alive_workers() == 1
    executors = spark_session(cluster.url).sparkContext._jsc.sc().getExecutorMemoryStatus()
    assert executors.size() == 2  # the driver and the surviving worker's executor
    assert rows(tmp_path / "spark") == rows(duckdb_scores)
