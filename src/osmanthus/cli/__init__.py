"""The ``osmanthus`` command: a thin shell over the library (parse, call, print).

Domain errors become one line on stderr and exit code 1. Each module registers its
commands on the one ``app``.
"""

from osmanthus.cli import audit, intake, policy, population, reports, scoring, web
from osmanthus.cli.base import app

__all__ = ["app", "audit", "intake", "policy", "population", "reports", "scoring", "web"]
