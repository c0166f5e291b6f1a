"""Benchmark: providers' eligibility checks while a large batch lands (issue 18, item 2).

It builds a demo city (``osmanthus demo --no-serve``) in a temporary folder, writes a
traffic-police batch of ``--rows`` valid rows about its residents, starts ``osmanthus
serve`` as a real process and, from one client thread, asks eligibility questions one
after another (each audited) before and while ``osmanthus intake`` submits the batch as
another process. Reported: for the checks before and during the intake, their number,
p50, p99 and the slowest, and how long the intake took. Target: no check over 1 s while
a 500,000-row batch lands (on the embedded default, SQLite).

    .venv/bin/python bench/eligibility_during_intake.py --rows 500000 --residents 20000
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx2 as httpx

OSMANTHUS = [sys.executable, "-m", "osmanthus", "--demo"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def city_ids(residents: int) -> list[str]:
    """The demo city's ID numbers (regenerated from its seed)."""
    from osmanthus.policy import load_policy
    from osmanthus.settings import get_settings
    from osmanthus.synthetic.city import CitySpec, generate_city

    settings = get_settings(demo_mode=True)
    today = dt.datetime.now(ZoneInfo(settings.timezone)).date()
    version = load_policy(settings.policy_dir).in_force(today)
    return [
        str(n)
        for chunk in generate_city(CitySpec(residents=residents, as_of=today), version)
        for n in chunk.people.national_id
    ]


def write_batch(path: Path, ids: list[str], rows: int) -> None:
    rng = random.Random(7)
    today = dt.date.today()
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["national_id", "metric", "act_date", "decision_date", "source_ref"])
        for k in range(rows):
            act = today - dt.timedelta(days=rng.randint(30, 300))
            out.writerow(
                [
                    ids[k % len(ids)],
                    ("failure_to_yield", "running_red_light")[k % 2],
                    act.isoformat(),
                    (act + dt.timedelta(days=2)).isoformat(),
                    f"BENCH-{k:08d}",
                ]
            )


def summary(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"checks": 0}
    ordered = sorted(latencies)
    return {
        "checks": len(ordered),
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000,
        "max_ms": ordered[-1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--residents", type=int, default=20_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="osmanthus-eligibility-"))
    env = {**os.environ, "OSMANTHUS_DATA_DIR": str(home / "var")}
    env.pop("OSMANTHUS_DATABASE_URL", None)
    subprocess.run(
        [*OSMANTHUS, "demo", "--no-serve", "--residents", str(args.residents)],
        env=env,
        check=True,
        capture_output=True,
    )
    ids = city_ids(args.residents)
    batch = home / "batch.csv"
    write_batch(batch, ids, args.rows)
    key = json.loads((home / "var" / "demo-signins.json").read_text())["provider_key"]
    env["OSMANTHUS_PROVIDER_CHECKS_PER_DAY"] = "1000000"  # this bench asks on purpose
    port = free_port()
    server = subprocess.Popen(
        [*OSMANTHUS, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    before: list[float] = []
    during: list[float] = []
    phase = {"now": before}
    stop = threading.Event()

    def ask() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            k = 0
            while not stop.is_set():
                started = time.perf_counter()
                answer = client.post(
                    "/api/v1/eligibility",
                    json={
                        "national_id": ids[k % 1000],
                        "perk": "civilization_loan",
                        "purpose": "loan_application",
                    },
                    headers={"Authorization": f"Bearer {key}"},
                )
                phase["now"].append(time.perf_counter() - started)
                if answer.status_code not in (200, 429):
                    raise SystemExit(f"eligibility answered {answer.status_code}: {answer.text}")
                k += 1
                time.sleep(0.01)

    try:
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        asker = threading.Thread(target=ask, daemon=True)
        asker.start()
        time.sleep(3)
        phase["now"] = during
        started = time.perf_counter()
        subprocess.run(
            [*OSMANTHUS, "intake", str(batch), "--department", "traffic-police"],
            env=env,
            check=True,
            capture_output=True,
        )
        intake_seconds = time.perf_counter() - started
        stop.set()
        asker.join(timeout=120)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    result = {
        "rows": args.rows,
        "residents": args.residents,
        "intake_seconds": intake_seconds,
        "before": summary(before),
        "during": summary(during),
    }
    print(json.dumps(result))  # one line: a script can compare runs


if __name__ == "__main__":
    main()
