"""The README's quick tour and the docs' runnable examples, run against a small demo city.

Every command line of the ```sh block under "## Quick tour" in README.md, and of every
```sh runnable block in docs/*.md, is run, adapted or skipped by a rule of :data:`RULES`,
each with its reason; a line that no rule knows fails, so the tour cannot gain a command
nobody checks. Placeholders (``320509...``, ``RECORD``, ``BATCH``, ...) are filled in from
the demo city (:data:`PLACEHOLDERS`). A command whose comment says ``(fails: WORD`` must
exit 1 with one unindented line naming WORD; every other command must exit 0.

Each block runs in a folder of its own holding a copy of one demo city's ``var/`` (built
once for the module by the real ``osmanthus demo``) and ``policies/`` (a link to the
checkout's), with no ``OSMANTHUS_`` variable set: as a reader runs the tour from the
checkout.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from typer.testing import CliRunner, Result

from factories import POLICY_DIR, ROOT
from osmanthus.cli import app
from osmanthus.settings import Settings
from web_fixtures import free_port, wait_until_answering

runner = CliRunner()
DEMO_RESIDENTS = 2000  # about 5 s to build; the whole module stays well under a minute
OSMANTHUS = ".venv/bin/osmanthus"


# -- the blocks and their lines ------------------------------------------------------------


@dataclass
class Line:
    """One command line of a block: its text without its comment, and its comment with the
    comment lines that continue it."""

    where: str  # README.md:34
    text: str
    comment: str = ""

    @property
    def args(self) -> list[str]:
        return shlex.split(self.text)

    @property
    def fails(self) -> str | None:
        """The word the one error line must hold, for a command that must fail."""
        found = re.search(r"\(fails: (\w+)", self.comment)
        return found.group(1) if found else None


def _split_comment(raw: str) -> tuple[str, str]:
    """``text  # comment`` -> (text, comment); a ``#`` inside quotes is text."""
    quote = ""
    for i, char in enumerate(raw):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or raw[i - 1].isspace()):
            return raw[:i].strip(), raw[i + 1 :].strip()
    return raw.strip(), ""


def parse_block(path: Path, first: int, raw_lines: list[str]) -> list[Line]:
    """The command lines of a block whose first line is line ``first`` of ``path``."""
    name = path.relative_to(ROOT).as_posix()
    found: list[Line] = []
    for number, raw in enumerate(raw_lines, start=first):
        if not raw.strip():
            continue
        if raw[0].isspace():  # a comment line continuing the command above
            assert raw.strip().startswith("#") and found, (
                f"{name}:{number}: a line that starts with spaces must continue a command's "
                f"comment: {raw!r}"
            )
            found[-1].comment += " " + raw.strip().removeprefix("#").strip()
            continue
        text, comment = _split_comment(raw)
        found.append(Line(f"{name}:{number}", text, comment))
    return found


def _fenced(path: Path, opening: Callable[[str, int], bool]) -> list[tuple[int, list[str]]]:
    """Blocks of ``path`` whose opening fence satisfies ``opening(fence, index)``: the
    number of the first line inside, and the lines up to the closing fence."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].startswith("```"):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            if opening(lines[i].strip(), i):
                blocks.append((i + 2, lines[i + 1 : end]))
            i = end
        i += 1
    return blocks


def quick_tour() -> list[Line]:
    """The lines of the ```sh block under README.md's "## Quick tour"."""
    path = ROOT / "README.md"
    heading = path.read_text(encoding="utf-8").splitlines().index("## Quick tour")
    blocks = _fenced(path, lambda fence, i: fence == "```sh" and i > heading)
    assert blocks, "README.md: no ```sh block under '## Quick tour'"
    first, lines = blocks[0]
    return parse_block(path, first, lines)


def runnable_blocks() -> list[tuple[str, list[Line]]]:
    """Every ```sh runnable block of docs/*.md, named by its file and first line."""
    found = []
    for path in sorted((ROOT / "docs").glob("*.md")):
        for first, lines in _fenced(path, lambda fence, _: fence.split() == ["```sh", "runnable"]):
            found.append(
                (f"{path.relative_to(ROOT).as_posix()}:{first}", parse_block(path, first, lines))
            )
    return found


# -- the rules: every line is run, adapted or skipped, for a reason ----------------------


@dataclass(frozen=True)
class Rule:
    action: str  # a key of ACTIONS
    pattern: str  # matched at the start of the line's text
    reason: str


RULES = (
    Rule(
        "serve",
        rf"{re.escape(OSMANTHUS)} (--demo )?serve\b",
        "the service runs until stopped: it is started as a process on a free port (not "
        "--port's), checked until /health, /docs and /metrics answer, and stopped",
    ),
    Rule(
        "spark",
        rf"{re.escape(OSMANTHUS)} .*--engine spark\b",
        "Spark starts a JVM and takes about 20 s: run here with --engine duckdb, and 'spark' "
        "checked among --engine's choices (tests/population/test_parity.py holds the Spark "
        "engine to the same scores)",
    ),
    Rule("run", rf"{re.escape(OSMANTHUS)} ", "run in-process through typer's CliRunner"),
    Rule(
        "dev",
        r"python3 dev\.py ",
        "dev.py sets up .venv and builds a city of 20,000 or more (minutes); this module "
        "builds its own small city with the same 'osmanthus demo' (dev.py demo passes its "
        "arguments on), and checks that 'osmanthus demo --help' names the line's options",
    ),
    Rule(
        "bench",
        r"\.venv/bin/python bench/",
        "benchmarks at 100,000 to 1,000,000 residents take minutes; checked: the script "
        "exists and its --help names the line's options",
    ),
    Rule(
        "env",
        r"OSMANTHUS_[A-Z_]+=",
        "a real city's set-up: a secret pseudonym key or a PostgreSQL server of its own "
        "(tests/test_cli.py runs init with a key); checked: each variable is a setting and "
        "the command's --help answers",
    ),
)


def rule_for(line: Line) -> Rule | None:
    return next((r for r in RULES if re.match(r.pattern, line.text)), None)


# -- placeholders ----------------------------------------------------------------------


@dataclass
class Tour:
    """A folder holding a copy of the demo city, and what the tour has learnt so far."""

    folder: Path
    demo_output: str
    known_at: str
    batch: str | None = None
    _records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def resident(self) -> str:
        found = re.search(r"explain (\w{18})\s+# below 100", self.demo_output)
        assert found, f"the demo printed no resident below 100:\n{self.demo_output}"
        return found.group(1)

    def records(self) -> list[dict[str, Any]]:
        if not self._records:
            result = runner.invoke(app, ["--demo", "explain", self.resident, "--json"])
            assert result.exit_code == 0, result.output
            self._records = json.loads(result.output)["records"]
        return self._records

    def repaired(self) -> dict[str, Any]:
        """The resident's counted negative record (early repair)."""
        found = [r for r in self.records() if r["status"] == "counted" and r["points"] < 0]
        assert found, f"resident {self.resident} has no counted negative record"
        return found[0]

    def disputed(self) -> dict[str, Any]:
        """Another record of the resident (a counted one if there is one): the dispute."""
        others = [r for r in self.records() if r["record_id"] != self.repaired()["record_id"]]
        assert others, f"resident {self.resident} has a single record; the tour needs two"
        return sorted(others, key=lambda r: r["status"] != "counted")[0]

    def reviewer_key(self) -> str:
        signins = json.loads((self.folder / "var" / "demo-signins.json").read_text())
        return str(signins["reviewer_key"])

    def the_batch(self) -> str:
        assert self.batch, "BATCH is used before an intake command printed a batch id"
        return self.batch

    def credit_report(self) -> str:
        """report.json: the resident's signed credit report, as the portal gives it."""
        from osmanthus.core import Actor
        from osmanthus.governance import policy_in_force
        from osmanthus.ledger import Ledger
        from osmanthus.policy import PolicySet
        from osmanthus.reports import credit_report, load_signing_key
        from osmanthus.settings import get_settings

        settings = get_settings(demo_mode=True)
        ledger = Ledger.from_settings(settings, PolicySet(()))
        try:
            ledger.use_policy(policy_in_force(ledger.engine))
            report = credit_report(
                ledger,
                self.resident,
                key=load_signing_key(settings),
                actor=Actor("resident", "tour"),
                purpose="own credit report",
            )
        finally:
            ledger.engine.dispose()
        (self.folder / "report.json").write_text(json.dumps(report), encoding="utf-8")
        return "report.json"

    def fill(self, args: list[str]) -> list[str]:
        """``args`` with every placeholder replaced; a token that looks like a placeholder
        (capitals, or ending in '...') and is not in PLACEHOLDERS fails."""
        filled = []
        for arg in args:
            if arg in PLACEHOLDERS:
                filled.append(PLACEHOLDERS[arg][1](self))
                continue
            assert not re.fullmatch(r"[A-Z][A-Z0-9_]*|.*\.\.\.", arg), (
                f"{arg!r} looks like a placeholder but PLACEHOLDERS does not know it"
            )
            filled.append(arg)
        return filled


#: placeholder -> (what it stands for, its value in the tour's city)
PLACEHOLDERS: dict[str, tuple[str, Callable[[Tour], str]]] = {
    "320509...": (
        "an ID the demo printed: its resident below 100, who has a counted negative record "
        "(to repair) and another record (to dispute)",
        lambda t: t.resident,
    ),
    "RECORD": (
        "a record_id of that resident from `explain ID --json`: the disputed one (not RECORD2)",
        lambda t: str(t.disputed()["record_id"]),
    ),
    "RECORD2": (
        "the resident's counted negative record from `explain ID --json` (early repair)",
        lambda t: str(t.repaired()["record_id"]),
    ),
    "D": ("the disputed record's department", lambda t: str(t.disputed()["department"])),
    "REVIEWER_KEY": (
        "the reviewer's key among the demo's sign-ins (var/demo-signins.json)",
        lambda t: t.reviewer_key(),
    ),
    "BATCH": (
        "the batch id the tour's intake printed (the refused one answers with its refusal)",
        lambda t: t.the_batch(),
    ),
    "report.json": (
        "the resident's signed credit report, as a resident downloads it (/me/report.json); "
        "no command writes one, so it is made with osmanthus.reports.credit_report",
        lambda t: t.credit_report(),
    ),
    "cp.json": (
        "kept as it is: 'audit checkpoint -o cp.json' wrote it earlier in the tour",
        lambda t: "cp.json",
    ),
    "T": ("a UTC time after the demo city was built (--known-at)", lambda t: t.known_at),
}


# -- the actions -------------------------------------------------------------------------


def _check(line: Line, result: Result) -> str:
    """The command's output, once its exit status is what its comment says."""
    code, output = result.exit_code, result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        output += "".join(traceback.format_exception(result.exception))
    shown = f"{line.where}: {line.text}\nexit {code}:\n{output}"
    assert "Traceback" not in output, shown
    assert "(0 residents)" not in output, shown  # a population that found nobody
    word = line.fails
    if word is None:
        assert code == 0, shown
        return output
    heads = [text for text in output.splitlines() if text.strip() and not text[0].isspace()]
    assert code == 1, f"expected exit 1 (fails: {word}):\n{shown}"
    assert len(heads) == 1 and word in heads[0], f"expected one line naming {word!r}:\n{shown}"
    return output


def _run(tour: Tour, line: Line, args: list[str]) -> None:
    output = _check(line, runner.invoke(app, tour.fill(args)[1:]))
    batch = re.search(r"^batch (\S+) from ", output, re.M)
    if batch and args[1:3] in (["--demo", "intake"], ["intake"]):
        tour.batch = batch.group(1)


def _spark(tour: Tour, line: Line, args: list[str]) -> None:
    at = args.index("--engine") + 1
    helped = runner.invoke(app, [*args[1 : at - 1], "--help"])  # lists --engine's choices
    assert helped.exit_code == 0 and "spark" in helped.output, helped.output
    _run(tour, line, [*args[:at], "duckdb", *args[at + 1 :]])


def _serve(tour: Tour, line: Line, args: list[str]) -> None:
    args = tour.fill(args)
    if "--port" not in args:
        args += ["--port", "8000"]
    port = str(free_port())
    args[args.index("--port") + 1] = port
    server = subprocess.Popen(
        [sys.executable, "-m", "osmanthus", *args[1:]],
        cwd=tour.folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    answers: dict[str, int] = {}
    try:
        health = wait_until_answering(f"http://127.0.0.1:{port}/health", server)
        answers["/health"] = health.status_code
        with httpx.Client(timeout=5) as http:
            for path in ("/docs", "/metrics"):
                answers[path] = http.get(f"http://127.0.0.1:{port}{path}").status_code
    except AssertionError:
        pass  # no answer: the assertion below shows the server's output
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    shown = f"{line.where}: {line.text}\nanswers {answers}, exit {server.returncode}:\n{output}"
    assert answers == {"/health": 200, "/docs": 200, "/metrics": 200}, shown
    # uvicorn shuts down cleanly, then dies of the signal it was sent
    assert server.returncode in (0, -signal.SIGTERM), shown
    assert "Finished server process" in output and "Traceback" not in output, shown


def _options(args: list[str]) -> list[str]:
    return [arg for arg in args if arg.startswith("--")]


def _dev(tour: Tour, line: Line, args: list[str]) -> None:
    assert args[2] in {"demo", "test", "setup"}, f"{line.where}: dev.py has no {args[2]!r}"
    if args[2] == "demo":
        helped = runner.invoke(app, ["demo", "--help"])
        missing = [o for o in _options(args) if o not in helped.output]
        assert helped.exit_code == 0 and not missing, f"{line.where}: {missing}"


def _bench(tour: Tour, line: Line, args: list[str]) -> None:
    script = ROOT / args[1]
    assert script.is_file(), f"{line.where}: no {args[1]}"
    helped = subprocess.run(
        [sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True, text=True
    )
    missing = [o for o in _options(args) if o not in helped.stdout]
    assert helped.returncode == 0 and not missing, f"{line.where}: {missing}\n{helped.stdout}"


def _env(tour: Tour, line: Line, args: list[str]) -> None:
    while args and re.match(r"OSMANTHUS_[A-Z_]+=", args[0]):
        name = args.pop(0).split("=", 1)[0]
        setting = name.removeprefix("OSMANTHUS_").lower()
        assert setting in Settings.model_fields, f"{line.where}: {name} is not a setting"
    if args and args[0] == OSMANTHUS:
        helped = runner.invoke(app, [*args[1:], "--help"])
        assert helped.exit_code == 0, f"{line.where}:\n{helped.output}"


ACTIONS: dict[str, Callable[[Tour, Line, list[str]], None]] = {
    "run": _run,
    "spark": _spark,
    "serve": _serve,
    "dev": _dev,
    "bench": _bench,
    "env": _env,
}


def run_block(tour: Tour, lines: list[Line]) -> None:
    """Every line in order (later lines use what earlier ones wrote); stop at the first
    that fails."""
    for line in lines:
        rule = rule_for(line)
        assert rule is not None, (
            f"{line.where}: {line.text!r} matches no rule of tests/test_readme.py: add a rule "
            "(run, adapt or skip, with its reason) so the command is checked"
        )
        ACTIONS[rule.action](tour, line, line.args)


# -- fixtures and tests ------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """One small demo city for the module, built by the real `osmanthus demo`: its home,
    the demo's output, and a known-at time just after it was built."""
    home = tmp_path_factory.mktemp("readme-demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OSMANTHUS_DATA_DIR", str(home / "var"))
        mp.setenv("OSMANTHUS_POLICY_DIR", str(POLICY_DIR))
        mp.delenv("OSMANTHUS_DATABASE_URL", raising=False)
        result = runner.invoke(app, ["demo", "--residents", str(DEMO_RESIDENTS), "--no-serve"])
    assert result.exit_code == 0, result.output
    after = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=1)
    return home, result.output, f"{after:%Y-%m-%dT%H:%M:%S}"


@pytest.fixture
def tour(demo_city: tuple[Path, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tour:
    """A folder of the test's own with a copy of the city's var/ and the checkout's
    policies/, as the current folder, and no OSMANTHUS_ variable set."""
    home, output, known_at = demo_city
    shutil.copytree(home / "var", tmp_path / "var")
    (tmp_path / "policies").symlink_to(ROOT / "policies", target_is_directory=True)
    for name in [n for n in os.environ if n.startswith("OSMANTHUS_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return Tour(tmp_path, output, known_at)


def test_every_command_of_the_quick_tour_runs(tour: Tour) -> None:
    run_block(tour, quick_tour())


@pytest.mark.parametrize(
    "block", [lines for _, lines in runnable_blocks()], ids=[n for n, _ in runnable_blocks()]
)
def test_every_runnable_example_of_the_docs_runs(tour: Tour, block: list[Line]) -> None:
    run_block(tour, block)


def test_the_tour_and_the_docs_have_what_the_rules_expect() -> None:
    lines = quick_tour() + [line for _, block in runnable_blocks() for line in block]
    unused = [rule.pattern for rule in RULES if not any(rule_for(x) == rule for x in lines)]
    assert not unused, f"rules that match no line any more (remove them): {unused}"
    used = {arg for line in lines for arg in line.args}
    assert not set(PLACEHOLDERS) - used, f"placeholders no line uses: {set(PLACEHOLDERS) - used}"
    refused = [line for line in lines if "intake var/demo-batch.csv" in line.text]
    assert refused and all(line.fails == "refused" for line in refused)
    assert any("--known-at T" in line.text for _, b in runnable_blocks() for line in b)


def test_a_line_no_rule_knows_fails_and_so_does_an_unknown_placeholder(tmp_path: Path) -> None:
    block = parse_block(ROOT / "README.md", 1, ["curl http://127.0.0.1:8000/health  # new"])
    assert block[0].text == "curl http://127.0.0.1:8000/health" and rule_for(block[0]) is None
    with pytest.raises(AssertionError, match="matches no rule"):
        run_block(Tour(tmp_path, "", ""), block)
    with pytest.raises(AssertionError, match="PLACEHOLDERS does not know"):
        Tour(tmp_path, "", "").fill([OSMANTHUS, "--demo", "score", "NEW_ID"])
    refused = parse_block(ROOT / "README.md", 1, ["x  # (fails: refused, on purpose)", "  # ok"])
    assert refused[0].fails == "refused" and refused[0].comment.endswith("ok")
