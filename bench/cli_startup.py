"""Benchmark: the start-up of a CLI look-up (``osmanthus score ID``, ``explain ID``).

Target (DESIGN.md §5): at most 0.4 s of wall time, start-up included. Each command is run
``--runs`` times as a fresh process on a small demo city built first (``--residents``),
interleaved with the bare interpreter (``python -c pass``) as the baseline; the median of
each is reported, and the modules a look-up imports (``-X importtime``, the ten slowest).

    .venv/bin/python bench/cli_startup.py --runs 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OSMANTHUS = Path(sys.executable).with_name("osmanthus")


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--residents", type=int, default=2_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="osmanthus-cli-"))
    env = {**os.environ, "OSMANTHUS_DATA_DIR": str(home / "var")}
    env.pop("OSMANTHUS_DATABASE_URL", None)
    build = [str(OSMANTHUS), "--demo", "demo", "--no-serve", "--residents", str(args.residents)]
    done = subprocess.run(build, env=env, capture_output=True, text=True, check=True)
    number = next(
        word.strip(",")
        for line in done.stdout.splitlines()
        for word in line.split()
        if len(word.strip(",")) == 18 and word[:17].isdigit()
    )
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "osmanthus score ID": [str(OSMANTHUS), "--demo", "score", number],
        "osmanthus explain ID": [str(OSMANTHUS), "--demo", "explain", number],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            times[name].append(timed(command, env))
    print(f"medians of {args.runs} interleaved runs (demo city of {args.residents:,}):")
    for name, found in times.items():
        print(f"  {name:24} {statistics.median(found):.3f} s  (min {min(found):.3f})")
    profile = subprocess.run(
        [sys.executable, "-X", "importtime", str(OSMANTHUS), "--demo", "score", number],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stderr.splitlines()
    rows = []
    for line in profile:
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    print("slowest imports (cumulative µs):")
    for micros, name in sorted(rows, reverse=True)[:10]:
        print(f"  {micros:>9,}  {name.strip()}")


if __name__ == "__main__":
    main()
