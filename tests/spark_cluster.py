"""A standalone Spark cluster on this machine: one master and N workers, started from the
pyspark package's own launcher (``bin/spark-class``), as real processes.

Used by tests/population/test_spark_cluster.py and bench/population.py (``--cluster``).
Every process binds 127.0.0.1; the workers' scratch space is under ``root``; the lake
and the results are on this machine's file system, which every process shares.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pyspark

from web_fixtures import free_port

SPARK_HOME = Path(pyspark.__file__).parent
SPARK_CLASS = SPARK_HOME / "bin" / "spark-class"


@dataclass
class Cluster:
    """A running master and its workers (``workers[i]`` is a :class:`subprocess.Popen`)."""

    root: Path
    url: str
    ui: str
    master: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def state(self) -> dict[str, object]:
        with urllib.request.urlopen(f"{self.ui}/json/", timeout=5) as answer:
            found: dict[str, object] = json.load(answer)
            return found

    def alive_workers(self) -> int:
        workers = self.state().get("workers", [])
        assert isinstance(workers, list)
        return sum(1 for w in workers if w.get("state") == "ALIVE")

    def has_executor(self, index: int) -> bool:
        """True once worker ``index`` runs an executor (a child process)."""
        return bool(_children(self.workers[index].pid))

    def kill_worker(self, index: int) -> list[int]:
        """SIGKILL worker ``index`` and its executors (a machine gone at once); return
        the process ids killed."""
        worker = self.workers[index]
        killed = [*_children(worker.pid), worker.pid]
        _kill(killed)
        worker.wait(timeout=30)
        return killed

    def stop(self) -> None:
        for process in [*self.workers, self.master]:
            _kill([*_children(process.pid), process.pid])
            process.wait(timeout=30)


def start_cluster(
    root: Path, *, workers: int = 2, cores: int = 1, memory: str = "1g", timeout: float = 90
) -> Cluster:
    """Start a master and ``workers`` workers; return once every worker is registered."""
    root.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(root / "logs"),
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_NO_DAEMONIZE": "1",
    }
    port, ui_port = free_port(), free_port()

    def launch(name: str, *args: str) -> subprocess.Popen[bytes]:
        with (root / f"{name}.log").open("wb") as log:  # the process keeps its own copy
            return subprocess.Popen(
                [str(SPARK_CLASS), *args], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root
            )

    master = launch(
        "master",
        "org.apache.spark.deploy.master.Master",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--webui-port",
        str(ui_port),
    )
    cluster = Cluster(root, f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}", master)
    try:
        for number in range(workers):
            work = root / f"worker-{number}"
            work.mkdir(exist_ok=True)
            cluster.workers.append(
                launch(
                    f"worker-{number}",
                    "org.apache.spark.deploy.worker.Worker",
                    cluster.url,
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    str(cores),
                    "--memory",
                    memory,
                    "--work-dir",
                    str(work),
                    "--webui-port",
                    str(free_port()),
                )
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if cluster.alive_workers() == workers:
                    return cluster
            except OSError:
                pass  # the master's web UI is not up yet
            for process in [master, *cluster.workers]:
                if process.poll() is not None:
                    raise RuntimeError(f"spark: a cluster process exited; see {root}/*.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"spark: {workers} workers not registered in {timeout} s")
            time.sleep(0.5)
    except BaseException:
        cluster.stop()
        raise


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc), deepest first."""
    found: list[int] = []
    listed: list[str] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):  # a child is listed by the thread
        with contextlib.suppress(OSError):  # that started it
            listed += (task / "children").read_text().split()
    for child in map(int, listed):
        found.extend(_children(child))
        found.append(child)
    return found


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
