"""A soak: the service under steady eligibility checks for a long time, with department
batches and population runs landing in between (issue 20, item 5).

It builds a demo city (``osmanthus demo --no-serve``) in a temporary folder, starts
``osmanthus serve --workers 2`` as a real process (SQLite, the default), and drives
``POST /api/v1/eligibility`` with ``wrk`` (one thread, ``--connections``, each pausing
``--delay-ms`` between requests, so the rate stays near a target rather than the
server's ceiling) for ``--minutes``, every resident of the city in turn. Every
``--every`` seconds meanwhile a department submits a new batch of ``--batch-rows`` rows
(``osmanthus intake --partial``: the demo's sample rows, some refused on purpose) and
the population engine exports and runs. Every 30 s it records
each worker's resident memory, the database's and its write-ahead log's sizes and the
server's 5xx count (``/metrics``). At the end: the checks made, the answers that were
not 200, latency, memory growth, and ``osmanthus audit verify`` of the whole ledger; the
last line printed is one JSON object of these figures (the 30 s samples are printed as
they are taken, and kept in ``--output``).

    .venv/bin/python bench/soak.py --minutes 15 --connections 8 --delay-ms 3
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from web import city_ids, free_port, seconds_of  # noqa: E402

CLI = [str(Path(sys.executable).with_name("osmanthus")), "--demo"]


def rss_mib(pid: int) -> float:
    """Resident memory of one process, in MiB (0 if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(found.group(1)) / 1024 if found else 0.0


def children(pid: int) -> list[int]:
    """The server's processes: the supervisor's children (its workers and its upkeep)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(k) for k in text.split()]


def five_xx(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        float(m.group(2))
        for m in re.finditer(r"^osmanthus_http_requests_total\{([^}]*)\} ([\d.e+]+)$", text, re.M)
        if 'status="5' in m.group(1)
    )


def new_batch(template: Path, target: Path, round_number: int, rows: int) -> None:
    """``rows`` rows of the demo's sample batch with source references of their own."""
    with template.open() as source:
        sample = list(csv.DictReader(source))
    with target.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(sample[0]))
        writer.writeheader()
        for n in range(rows):
            row = dict(sample[n % len(sample)])
            row["source_ref"] = f"SOAK-{round_number:03d}-{n:07d}"
            writer.writerow(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--delay-ms", type=int, default=3)
    parser.add_argument("--every", type=int, default=180, help="seconds between batches")
    parser.add_argument("--batch-rows", type=int, default=20_000)
    parser.add_argument("--output", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/soak.py needs wrk: apt-get install -y --no-install-recommends wrk")

    home = Path(tempfile.mkdtemp(prefix="osmanthus-soak-"))
    env = {
        **os.environ,
        "OSMANTHUS_DATA_DIR": str(home),
        "OSMANTHUS_DEMO_MODE": "true",
        "OSMANTHUS_PROVIDER_CHECKS_PER_DAY": str(10**9),
    }
    env.pop("OSMANTHUS_DATABASE_URL", None)
    print(f"building a {args.residents:,}-resident demo city in {home}", flush=True)
    subprocess.run(
        [*CLI, "demo", "--residents", str(args.residents), "--no-serve"],
        env=env,
        check=True,
        capture_output=True,
    )
    signins = json.loads((home / "demo-signins.json").read_text())
    ids_file = home / "everyone.txt"
    ids_file.write_text("\n".join(city_ids(args.residents)) + "\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (home / "serve.log").open("wb")
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    samples: list[dict[str, Any]] = []
    rounds: list[dict[str, float]] = []
    load: subprocess.Popen[str] | None = None
    try:
        for _ in range(300):
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        first = ids_file.read_text().split()[0]
        answer = httpx.post(
            f"{url}/api/v1/eligibility",
            json={"national_id": first, "perk": "civilization_loan", "purpose": "loan_application"},
            headers={"Authorization": f"Bearer {signins['provider_key']}"},
            timeout=10,
        )
        if answer.status_code != 200:
            sys.exit(f"the first check answered {answer.status_code}: {answer.text}")
        wrk_env = {
            **env,
            "OSMANTHUS_BENCH_IDS": str(ids_file),
            "OSMANTHUS_BENCH_KEY": signins["provider_key"],
            "OSMANTHUS_BENCH_DELAY_MS": str(args.delay_ms),
        }
        seconds = int(args.minutes * 60)
        started = time.monotonic()
        load = subprocess.Popen(
            [
                "wrk",
                "-t1",
                f"-c{args.connections}",
                f"-d{seconds}s",
                "--latency",
                "--timeout",
                "10s",
                "-s",
                str(HERE / "wrk" / "eligibility.lua"),
                f"{url}/api/v1/eligibility",
            ],
            env=wrk_env,
            stdout=subprocess.PIPE,
            text=True,
        )
        next_sample, next_round, number = started, started + args.every / 2, 0
        while load.poll() is None:
            now = time.monotonic()
            if now >= next_sample:
                workers = children(server.pid)
                sample = {
                    "at_s": round(now - started),
                    "rss_mib": [round(rss_mib(pid), 1) for pid in workers],
                    "db_mib": round((home / "demo.db").stat().st_size / 2**20, 1),
                    "wal_mib": round(_size(home / "demo.db-wal") / 2**20, 1),
                    "5xx": five_xx(url),
                }
                samples.append(sample)
                print(json.dumps(sample), flush=True)
                next_sample += 30
            if now >= next_round and now - started < seconds - 60:
                number += 1
                batch = home / f"soak-{number}.csv"
                new_batch(home / "demo-batch.csv", batch, number, args.batch_rows)
                took: dict[str, float] = {}
                for name, command in (
                    (
                        "intake_s",
                        [
                            "intake",
                            str(batch),
                            "--department",
                            "traffic-police",
                            "--batch-id",
                            f"SOAK-{number}",
                            "--partial",  # the demo's sample holds rows refused on purpose
                        ],
                    ),
                    ("export_s", ["population", "export"]),
                    ("run_s", ["population", "run"]),
                ):
                    t0 = time.monotonic()
                    subprocess.run([*CLI, *command], env=env, check=True, capture_output=True)
                    took[name] = round(time.monotonic() - t0, 1)
                rounds.append(took)
                print(f"round {number}: {json.dumps(took)}", flush=True)
                next_round += args.every
            time.sleep(1)
        out = load.stdout.read() if load.stdout else ""
    finally:
        if load is not None and load.poll() is None:
            load.kill()  # a failed round must not leave wrk hammering a closed port
        server.terminate()
        server.wait(timeout=60)
        log.close()
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    t0 = time.monotonic()
    verify = subprocess.run([*CLI, "audit", "verify"], env=env, capture_output=True, text=True)
    figures = {
        "minutes": args.minutes,
        "checks": requests,
        "checks_per_s": round(requests / (args.minutes * 60)),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else None,
        "p50_ms": seconds_of(re.search(r"\s50%\s+(\S+)", out).group(1)) * 1000,  # type: ignore[union-attr]
        "p99_ms": seconds_of(re.search(r"\s99%\s+(\S+)", out).group(1)) * 1000,  # type: ignore[union-attr]
        "max_ms": seconds_of(re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out).group(1)) * 1000,  # type: ignore[union-attr]
        "rounds": rounds,
        "samples": samples,
        "verify_s": round(time.monotonic() - t0, 1),
        "verify": (verify.stdout + verify.stderr).strip(),
        "serve_log_tracebacks": (home / "serve.log").read_text(errors="replace").count("Traceback"),
        # memory growth: the resident memory of each server process (workers, upkeep)
        "rss_mib_first": samples[0]["rss_mib"] if samples else None,
        "rss_mib_last": samples[-1]["rss_mib"] if samples else None,
        "rss_mib_max": max((max(x["rss_mib"], default=0.0) for x in samples), default=None),
        "db_mib_last": samples[-1]["db_mib"] if samples else None,
        "wal_mib_max": max((x["wal_mib"] for x in samples), default=None),
    }
    print(out)
    print(
        f"{requests:,} checks in {args.minutes:g} min ({figures['checks_per_s']:,}/s), "
        f"{figures['non_2xx']:,} not 2xx, p50 {figures['p50_ms']:.1f} ms, "
        f"p99 {figures['p99_ms']:.1f} ms, max {figures['max_ms']:.0f} ms; "
        f"{len(rounds)} rounds of intake and population; "
        f"audit verify {figures['verify_s']} s: {figures['verify']}"
    )
    if args.output:
        args.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps({k: v for k, v in figures.items() if k != "samples"}))  # one line


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


if __name__ == "__main__":
    main()
