"""Load policy files (TOML) into validated :class:`PolicyVersion` objects.

A policy directory holds one TOML file per version; each names its effective date. A
file that breaks a rule does not load, and the message names the file and the field:
``policy.toml: metrics.volunteer_hours.legal_basis: 'legal_basis' is required ...``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from osmanthus.errors import PolicyError
from osmanthus.policy.model import PolicyVersion

__all__ = ["PolicySet", "load_policy", "load_version"]


@dataclass(frozen=True)
class PolicySet:
    """All versions of one policy, ordered by effective date."""

    versions: tuple[PolicyVersion, ...]

    def in_force(self, on: dt.date) -> PolicyVersion:
        """The version in force on ``on`` (the latest effective on or before it)."""
        dates = [v.effective for v in self.versions]
        index = bisect.bisect_right(dates, on) - 1
        if index < 0:
            raise PolicyError(
                f"policy {self.versions[0].name}: no version in force on {on} "
                f"(first version effective {dates[0]})"
            )
        return self.versions[index]

    @property
    def latest(self) -> PolicyVersion:
        """The version with the latest effective date."""
        return self.versions[-1]


def load_policy(path: Path | str) -> PolicySet:
    """Load a policy directory (every ``*.toml`` file in it) or a single file."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.toml"))
        if not files:
            raise PolicyError(f"{path}: no policy files (*.toml) in this directory")
    elif path.is_file():
        files = [path]
    else:
        raise PolicyError(f"{path}: no such policy file or directory")
    versions = sorted((load_version(f) for f in files), key=lambda v: v.effective)
    for before, after in itertools.pairwise(versions):
        if before.effective == after.effective:
            raise PolicyError(
                f"{after.source}: effective date {after.effective} is also the date of "
                f"{before.source}"
            )
        if before.name != after.name:
            raise PolicyError(
                f"{after.source}: policy name {after.name!r} differs from {before.name!r}"
            )
    return PolicySet(tuple(versions))


def load_version(path: Path) -> PolicyVersion:
    """Parse and validate one policy file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path.name}: expected UTF-8 text ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path.name}: not valid TOML: {exc}") from exc
    try:
        return PolicyVersion.model_validate(_shape(raw, path))
    except pydantic.ValidationError as exc:
        raise PolicyError(_first_error(path, exc)) from exc


def _shape(raw: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """Turn the TOML layout into the model's: ``[policy]`` header, keyed metrics."""
    header = raw.get("policy")
    if not isinstance(header, dict):
        raise PolicyError(f"{path.name}: expected a [policy] table with name and effective")
    unknown = set(raw) - {"policy", "scale", "departments", "metrics"}
    if unknown:
        raise PolicyError(f"{path.name}: unknown top-level table(s): {', '.join(sorted(unknown))}")
    metrics = raw.get("metrics", {})
    if not isinstance(metrics, dict):
        raise PolicyError(f"{path.name}: metrics: expected tables [metrics.<code>]")
    return {
        **header,
        "source": path.name,
        "scale": raw.get("scale"),
        "departments": raw.get("departments", {}),
        "metrics": {
            code: {"code": code, **body} if isinstance(body, dict) else body
            for code, body in metrics.items()
        },
    }


def _first_error(path: Path, exc: pydantic.ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "policy"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = f"'{error['loc'][-1]}' is required"
    count = exc.error_count()
    more = f" (and {count - 1} more)" if count > 1 else ""
    return f"{path.name}: {where}: {message}{more}"
