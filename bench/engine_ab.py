"""The default population engine's CPU in two versions of the code, alternating.

On a machine whose speed drifts by a tenth from one minute to the next, a change worth a
few percent shows only when both versions run side by side, turn and turn about. Each
round starts, for each version in turn, a fresh Python process that puts that version's
source folder first on its path (a ``git worktree`` of an earlier commit, say), opens
the lake and scores it ``--runs`` times with ``run_duckdb`` on the example policy,
reporting each run's process CPU seconds (user + system, its threads included). The
medians over every round's runs are compared.

    git worktree add /tmp/before HEAD~1
    .venv/bin/python bench/engine_ab.py --lake /tmp/lake-1m --before /tmp/before/src \\
        --after src --rounds 6 --runs 3

The lake is one ``bench/population.py --lake DIR`` kept. The last line printed is one
JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent

#: what each child process runs: argv is the source folder, the lake, threads and runs
CHILD = """
import json, resource, sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[1])
sys.path.insert(1, sys.argv[5])
from osmanthus.policy import load_policy
from osmanthus.population.compiled import Compiled
from osmanthus.population.engines import run_duckdb
from osmanthus.population.lake import Lake
from osmanthus.settings import EXAMPLE_POLICY
from population import AS_OF

def cpu():
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime

lake = Lake.open(Path(sys.argv[2]))
policy = load_policy(EXAMPLE_POLICY)
found = []
for _ in range(int(sys.argv[4])):
    with tempfile.TemporaryDirectory() as out:
        started = cpu()
        run_duckdb(lake, Compiled.build(policy, AS_OF), None, Path(out), threads=int(sys.argv[3]))
        found.append(round(cpu() - started, 4))
print(json.dumps(found))
"""


def runs(source: Path, lake: Path, threads: int, count: int) -> list[float]:
    """CPU seconds of ``count`` runs in one fresh process of ``source``'s code."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(source), str(lake), str(threads), str(count), str(BENCH)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{source}: the run failed: {done.stderr.strip().splitlines()[-1]}")
    found: list[float] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--before", type=Path, required=True, help="a source folder (src)")
    parser.add_argument("--after", type=Path, required=True, help="a source folder (src)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--runs", type=int, default=3, help="runs in each process")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    found: dict[str, list[float]] = {"before": [], "after": []}
    for round_ in range(args.rounds):
        for name in found:
            source = args.before if name == "before" else args.after
            found[name] += runs(source.resolve(), args.lake, args.threads, args.runs)
        print(
            f"round {round_ + 1}: before {found['before'][-args.runs :]}, "
            f"after {found['after'][-args.runs :]}"
        )
    before, after = (statistics.median(found[n]) for n in ("before", "after"))
    print(f"before {before:.3f} CPU-s, after {after:.3f} CPU-s ({after / before:.3f}x)")
    print(
        json.dumps(
            {
                "before_cpu_s": round(before, 4),
                "after_cpu_s": round(after, 4),
                "after_over_before": round(after / before, 4),
                "runs_each": len(found["before"]),
                "threads": args.threads,
            }
        )
    )


if __name__ == "__main__":
    main()
