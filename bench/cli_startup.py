"""Benchmark: the start-up of a CLI look-up (``osmanthus score ID``, ``explain ID``).

Target (DESIGN.md §5): at most 0.4 s of wall time, start-up included. Each command is run
``--runs`` times as a fresh process on a small demo city built first (``--residents``),
interleaved with two baselines: the bare interpreter (``python -c pass``) and the floor of
the libraries a look-up cannot do without (SQLAlchemy, pydantic-settings, Typer,
imported and nothing else). The median wall time and CPU time (user + system) of each
are reported, and the modules a look-up imports (``-X importtime``, the ten slowest).

    .venv/bin/python bench/cli_startup.py --runs 10
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OSMANTHUS = Path(sys.executable).with_name("osmanthus")


#: The libraries a look-up needs (the database layer, the settings with pydantic, the
#: command line; not rich, which a look-up no longer loads), imported and left as
#: ``osmanthus`` leaves, without the interpreter's tear-down.
LIBRARIES = "import sqlalchemy, pydantic_settings, typer, os; os._exit(0)"


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--residents", type=int, default=2_000)
    parser.add_argument(
        "--python",
        metavar="PATH",
        help="Also run score ID under another Python 3.11 (for example Debian's "
        "/usr/bin/python3.11, built with profile-guided optimisation), on this venv's "
        "packages",
    )
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
        "libraries only": [sys.executable, "-c", LIBRARIES],
        "osmanthus score ID": [str(OSMANTHUS), "--demo", "score", number],
        "osmanthus explain ID": [str(OSMANTHUS), "--demo", "explain", number],
    }
    if args.python:
        site = next(Path(sys.executable).parents[1].glob("lib/python3*/site-packages"))
        env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT / "src")])
        commands[f"score ID ({args.python})"] = [
            args.python,
            "-m",
            "osmanthus",
            "--demo",
            "score",
            number,
        ]
        commands[f"libraries only ({args.python})"] = [args.python, "-c", LIBRARIES]
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            times[name].append(timed(command, env))
    print(f"medians of {args.runs} interleaved runs (demo city of {args.residents:,}):")
    for name, found in times.items():
        wall = [w for w, _ in found]
        cpu = statistics.median(c for _, c in found)
        print(
            f"  {name:24} {statistics.median(wall):.3f} s  (min {min(wall):.3f}), {cpu:.3f} CPU-s"
        )
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
    print(  # one line a script can compare runs by: medians, wall and CPU seconds
        json.dumps(
            {
                "runs": args.runs,
                **{
                    name: {
                        "wall_s": round(statistics.median(w for w, _ in found), 4),
                        "cpu_s": round(statistics.median(c for _, c in found), 4),
                    }
                    for name, found in times.items()
                },
            }
        )
    )


if __name__ == "__main__":
    main()
