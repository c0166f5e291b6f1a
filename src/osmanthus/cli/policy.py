"""Commands for policy authors: check and test."""

from __future__ import annotations

import datetime as dt

import typer
import typer.core

from osmanthus.cli.base import (
    PolicyDir,
    domain_errors,
    err,
    out,
    policy_app,
)
from osmanthus.policy import load_policy, summarise
from osmanthus.scoring import run_cases


@policy_app.command("check")
@domain_errors
def policy_check(directory: PolicyDir) -> None:
    """Validate a policy and print every rule with its citation."""
    policies = load_policy(directory)
    for version in policies.versions:
        for line in summarise(version):
            out.print(line, markup=False, highlight=False)
        out.print()
    for warning in policies.lapsed(dt.date.today()):
        err.print(f"warning: {warning}", markup=False, highlight=False)
    out.print(f"policy {policies.latest.name}: {len(policies.versions)} version(s) valid")


@policy_app.command("test")
@domain_errors
def policy_test(directory: PolicyDir) -> None:
    """Run the authors' test cases in DIRECTORY/tests; exit 1 when any fails."""
    policies = load_policy(directory)
    results = run_cases(directory, policies)
    for result in results:
        mark = "[green]pass[/green]" if result.passed else "[red]FAIL[/red]"
        out.print(f"{mark} {result.case.source} {result.case.name}", highlight=False)
        for problem in result.problems:
            out.print(f"     {problem}", markup=False, highlight=False)
    failed = sum(not r.passed for r in results)
    out.print(f"{len(results) - failed} passed, {failed} failed")
    if failed or not results:
        raise typer.Exit(1)
