"""Benchmark: the service's memory while a department uploads a batch file of up to the
size limit (issue 18, item 1: at most 500 MB peak for a 2 GB upload).

It builds a demo city (``osmanthus demo --no-serve``), writes a traffic-police CSV of
about ``--mb`` MB about its residents (every row valid except the last, so the whole
file is read and checked and then refused: nothing is written, and the run can be
repeated), starts ``osmanthus serve`` as a real process and POSTs the file to
``/api/v1/batches`` with the department's key, streaming it. The server's resident
memory (its process and its children, from /proc every 50 ms) is reported at rest and
at its peak during the upload, with the answer and the time it took.

    .venv/bin/python bench/upload_memory.py --mb 2000 --runs 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
from eligibility_during_intake import OSMANTHUS, city_ids, free_port


def write_batch(path: Path, ids: list[str], megabytes: int) -> int:
    """About ``megabytes`` MB of valid rows, then one row with an impossible date."""
    today = dt.date.today()
    act = (today - dt.timedelta(days=40)).isoformat()
    decided = (today - dt.timedelta(days=38)).isoformat()
    metrics = ("failure_to_yield", "running_red_light")
    rows = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("national_id,metric,act_date,decision_date,source_ref\n")
        while out.tell() < megabytes * 1_000_000:
            block = [
                f"{ids[(rows + k) % len(ids)]},{metrics[k % 2]},{act},{decided},"
                f"BENCH-{rows + k:09d}\n"
                for k in range(100_000)
            ]
            out.write("".join(block))
            rows += len(block)
        out.write(f"{ids[0]},failure_to_yield,2026-02-30,{decided},BENCH-LAST\n")
    return rows + 1


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(
                next(ln for ln in status.splitlines() if ln.startswith("VmRSS")).split()[1]
            )
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (OSError, StopIteration):
            continue
        todo.extend(int(c) for c in children)
    return total * 1024


def chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from iter(lambda: handle.read(1 << 20), b"")


def one_run(port: int, pid: int, batch: Path, key: str, run: int) -> dict[str, float]:
    peak, stop = [tree_rss(pid)], threading.Event()
    at_rest = peak[0]

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], tree_rss(pid))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.perf_counter()
    try:
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/batches?batch_id=bench-{run}-{time.time_ns()}",
            content=chunks(batch),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"},
            timeout=3600,
        )
    finally:
        stop.set()
        watcher.join()
    seconds = time.perf_counter() - started
    body = answer.json()
    print(
        f"  run {run}: HTTP {answer.status_code} {body.get('status', body.get('error'))!s:.80} "
        f"in {seconds:.0f} s; server at rest {at_rest / 2**20:,.0f} MiB, "
        f"peak {peak[0] / 2**20:,.0f} MiB"
    )
    return {"seconds": seconds, "rest": at_rest, "peak": peak[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=2000, help="Size of the file in MB.")
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="osmanthus-upload-"))
    env = {**os.environ, "OSMANTHUS_DATA_DIR": str(home / "var")}
    env.pop("OSMANTHUS_DATABASE_URL", None)
    env["TMPDIR"] = str(home)  # the upload is stored here while it is checked
    subprocess.run(
        [*OSMANTHUS, "demo", "--no-serve", "--residents", str(args.residents)],
        env=env,
        check=True,
        capture_output=True,
    )
    batch = home / "batch.csv"
    rows = write_batch(batch, city_ids(args.residents), args.mb)
    print(f"batch: {batch.stat().st_size / 1e9:.2f} GB, {rows:,} rows (the last one bad)")
    key = json.loads((home / "var" / "demo-signins.json").read_text())["department_key"]
    port = free_port()
    server = subprocess.Popen(
        [*OSMANTHUS, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        time.sleep(2)  # the upkeep started
        found = [one_run(port, server.pid, batch, key, run) for run in range(1, args.runs + 1)]
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(
        f"median of {args.runs}: peak {statistics.median(r['peak'] for r in found) / 2**20:,.0f} "
        f"MiB (at rest {statistics.median(r['rest'] for r in found) / 2**20:,.0f} MiB), "
        f"{statistics.median(r['seconds'] for r in found):.0f} s per upload"
    )
    print(  # one line a script can compare runs by
        json.dumps(
            {
                "megabytes": args.mb,
                "rows": rows,
                "runs": args.runs,
                "rest_mib": round(statistics.median(r["rest"] for r in found) / 2**20, 1),
                "peak_mib": round(statistics.median(r["peak"] for r in found) / 2**20, 1),
                "seconds": round(statistics.median(r["seconds"] for r in found), 1),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
