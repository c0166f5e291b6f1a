"""The web service under load: the provider eligibility check and the resident's score
page against a trivial JSON endpoint on the same server, in the same run.

It builds a demo city (``osmanthus demo --no-serve``) in a temporary folder, gives portal
passwords to some of its residents and signs them in, starts ``osmanthus serve --workers
2`` as a real process, and drives it with ``wrk`` (Debian's package: ``apt-get install
wrk``) on the same machine: ``-t2 -c50 --latency``. Each run measures, in this order,
``GET /api/v1/ping`` (the baseline), ``POST /api/v1/eligibility`` (1,000 residents
rotating, every check audited: their decisions are remembered), the same check where
every request names a resident the server was never asked about (``eligibility_cold``:
every decision computed afresh; the ID numbers regenerated from the city's seed), and
``GET /me`` (the score page, residents rotating). The figures are the median over
``--runs``; the last line printed is one JSON object of them (what ``--out`` holds).

    .venv/bin/python bench/web.py --residents 100000 --runs 3 --seconds 15
    .venv/bin/python bench/web.py --database-url postgresql+psycopg://postgres@127.0.0.1/test

With ``--database-url`` (PostgreSQL) the same city is built in a fresh schema of that
database (``osmanthus_web_bench``, dropped afterwards) and served from it; the demo mode
(its public pseudonym key) stays on, so the sign-ins are the demo's.

Targets (issue 6): eligibility >= 60 % of ping's requests/s with p99 <= 25 ms; the
score page p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx2 as httpx

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "osmanthus"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seconds_of(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def wrk(url: str, seconds: int, script: str | None, env: dict[str, str]) -> dict[str, float]:
    command = ["wrk", "-t2", "-c50", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script:
        command += ["-s", str(HERE / "wrk" / script)]
    out = subprocess.run(
        [*command, url], env=env, check=True, capture_output=True, text=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = seconds_of(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = seconds_of(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": rps,
        "p50_ms": p50 * 1000,
        "p99_ms": p99 * 1000,
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


def city_ids(residents: int) -> list[str]:
    """The ID numbers of the demo city (regenerated from its seed), shuffled."""
    import random

    from osmanthus.policy import load_policy
    from osmanthus.settings import get_settings
    from osmanthus.synthetic.city import CitySpec, generate_city

    settings = get_settings(demo_mode=True)
    today = dt.datetime.now(ZoneInfo(settings.timezone)).date()
    version = load_policy(settings.policy_dir).in_force(today)
    numbers = [
        str(n)
        for chunk in generate_city(CitySpec(residents=residents, as_of=today), version)
        for n in chunk.people.national_id
    ]
    random.Random(1).shuffle(numbers)
    return numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--signed-in", type=int, default=200, help="residents with a session")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "web.json")
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL to serve from (default: SQLite)"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/web.py needs wrk: apt-get install -y wrk")

    home = Path(tempfile.mkdtemp(prefix="osmanthus-web-bench-"))
    env = {
        **os.environ,
        "OSMANTHUS_DATA_DIR": str(home),
        "OSMANTHUS_DEMO_MODE": "true",
        # a load test asks about the same residents all day: no daily limit per resident
        "OSMANTHUS_PROVIDER_CHECKS_PER_DAY": str(10**9),
    }
    env.pop("OSMANTHUS_DATABASE_URL", None)
    print(f"building a {args.residents:,}-resident demo city in {home}", flush=True)
    database_url = None
    if args.database_url:
        database_url = fresh_schema(args.database_url)
        env["OSMANTHUS_DATABASE_URL"] = database_url
        build_city(home, database_url, args.residents)
    else:
        subprocess.run(
            [*CLI, "demo", "--residents", str(args.residents), "--no-serve"],
            env=env,
            check=True,
            capture_output=True,
        )
    signins = json.loads((home / "demo-signins.json").read_text())
    with (home / "demo-batch.csv").open() as file:
        ids = sorted({row["national_id"] for row in csv.DictReader(file)})
    ids_file = home / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    everyone = home / "everyone.txt"  # every resident, in a shuffled order
    everyone.write_text("\n".join(city_ids(args.residents)) + "\n")

    from osmanthus.cli.base import OPERATOR
    from osmanthus.ledger import Ledger
    from osmanthus.policy import load_policy
    from osmanthus.residents import set_password
    from osmanthus.settings import get_settings

    settings = get_settings(demo_mode=True, data_dir=home, database_url=database_url)
    ledger = Ledger.from_settings(settings, load_policy(settings.policy_dir))
    password = "bench-password"
    signed = ids[: args.signed_in]
    for number in signed:
        set_password(ledger, number, password, actor=OPERATOR)
    ledger.engine.dispose()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (home / "serve.log").open("wb")
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(300):
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        cookies = []
        for number in signed:
            with httpx.Client(base_url=url) as client:
                client.post("/signin", data={"national_id": number, "password": password})
                cookies.append(f"osmanthus_session={client.cookies['osmanthus_session']}")
        cookie_file = home / "cookies.txt"
        cookie_file.write_text("\n".join(cookies) + "\n")
        bench_env = {
            **os.environ,
            "OSMANTHUS_BENCH_IDS": str(ids_file),
            "OSMANTHUS_BENCH_KEY": signins["provider_key"],
            "OSMANTHUS_BENCH_COOKIES": str(cookie_file),
        }
        wrk(f"{url}/api/v1/ping", 3, None, bench_env)  # warm up every worker
        wrk(f"{url}/api/v1/eligibility", 3, "eligibility.lua", bench_env)
        runs: list[dict[str, Any]] = []
        for number in range(args.runs):
            cold_env = {
                **bench_env,
                "OSMANTHUS_BENCH_IDS": str(everyone),
                "OSMANTHUS_BENCH_START": str(number * args.residents // args.runs),
            }
            run = {
                "ping": wrk(f"{url}/api/v1/ping", args.seconds, None, bench_env),
                "eligibility": wrk(
                    f"{url}/api/v1/eligibility", args.seconds, "eligibility.lua", bench_env
                ),
                "eligibility_cold": wrk(
                    f"{url}/api/v1/eligibility", args.seconds, "eligibility_cold.lua", cold_env
                ),
                "score_page": wrk(f"{url}/me", args.seconds, "cookies.lua", bench_env),
            }
            run["ratio"] = run["eligibility"]["rps"] / run["ping"]["rps"]
            run["ratio_cold"] = run["eligibility_cold"]["rps"] / run["ping"]["rps"]
            runs.append(run)
            print(f"run {number + 1}: {json.dumps(run)}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()

    def median(path: tuple[str, str]) -> float:
        return statistics.median(r[path[0]][path[1]] for r in runs)

    summary = {
        "database": "postgresql" if database_url else "sqlite",
        "residents": args.residents,
        "workers": args.workers,
        "connections": 50,
        "seconds": args.seconds,
        "runs": runs,
        "median": {
            name: {field: round(median((name, field)), 2) for field in ("rps", "p50_ms", "p99_ms")}
            for name in ("ping", "eligibility", "eligibility_cold", "score_page")
        },
        "median_ratio": round(statistics.median(r["ratio"] for r in runs), 3),
        "median_ratio_cold": round(statistics.median(r["ratio_cold"] for r in runs), 3),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1))
    print(f"medians of {args.runs} runs:")
    for name, found in summary["median"].items():
        print(
            f"  {name:16} {found['rps']:10,.0f} requests/s  p50 {found['p50_ms']:7.2f} ms  "
            f"p99 {found['p99_ms']:7.2f} ms"
        )
    print(f"eligibility / ping (median of per-run ratios): {summary['median_ratio']:.1%}")
    print(f"the same, every check a new resident: {summary['median_ratio_cold']:.1%}")
    shutil.rmtree(home, ignore_errors=True)
    if args.database_url:
        drop_schema(args.database_url)
    print(json.dumps(summary))  # one line a script can compare runs by


SCHEMA = "osmanthus_web_bench"


def fresh_schema(url: str) -> str:
    """An empty schema ``SCHEMA`` in the PostgreSQL database ``url``; its URL."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
    engine.dispose()
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{SCHEMA}"


def drop_schema(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    engine.dispose()


def build_city(home: Path, database_url: str, residents: int) -> None:
    """What ``osmanthus demo --no-serve`` builds (the demo keeps to its own SQLite file):
    the city, its sample batch (whose ID numbers the checks use) and the sign-ins."""
    from osmanthus.cli.base import OPERATOR
    from osmanthus.cli.policy import approve_demo_policy
    from osmanthus.cli.web import create_demo_signins
    from osmanthus.ledger import Ledger, migrate
    from osmanthus.policy import load_policy
    from osmanthus.settings import get_settings
    from osmanthus.synthetic import CitySpec, load_city, write_sample_batch

    settings = get_settings(demo_mode=True, data_dir=home, database_url=database_url)
    ledger = Ledger.from_settings(settings, load_policy(settings.policy_dir))
    migrate(ledger.engine)
    ledger.sync_departments(OPERATOR)
    approve_demo_policy(ledger, settings)  # the service serves only an approved policy
    spec = CitySpec(residents=residents, as_of=ledger.today())
    loaded = load_city(ledger, spec)
    write_sample_batch(home / "demo-batch.csv", loaded.sample_ids, ledger.today(), spec.seed)
    create_demo_signins(ledger, loaded.examples, home / "demo-signins.json")
    ledger.engine.dispose()


if __name__ == "__main__":
    main()
