"""Load policy files (TOML) into validated :class:`PolicyVersion` objects.

A policy directory holds one TOML file per version; each names its effective date.
Beside them: the city's charter (``charter.toml``) and its registry of legal instruments
(``instruments.toml``), against which every version is checked
(:mod:`osmanthus.policy.charter`), and author test cases in ``tests/``. A file that breaks
a rule does not load, and the message names the file, the line and the field:
``2020-01-01.toml:42: metrics.volunteer_hours: 'legal_basis' is required ...``.
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
from osmanthus.policy.charter import (
    CHARTER_FILE,
    INSTRUMENTS_FILE,
    Charter,
    CharterViolation,
    check_version,
    load_charter,
)
from osmanthus.policy.locate import located_error
from osmanthus.policy.model import GuardrailViolation, PolicyVersion

__all__ = ["PolicySet", "load_policy", "load_version"]


@dataclass(frozen=True)
class PolicySet:
    """All versions of one policy, ordered by effective date, and the charter they were
    checked against (:func:`load_policy` always has one; a set built in code, as the
    scoring tests build theirs, may not, and then only the base lexicons apply)."""

    versions: tuple[PolicyVersion, ...]
    charter: Charter | None = None

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

    def lapsed(self, today: dt.date) -> list[str]:
        """Warnings naming every rule of the version in force today whose sunset passed."""
        try:
            return self.in_force(today).lapsed(today)
        except PolicyError:
            return []


def load_policy(
    path: Path | str, *, changed: Mapping[str, Mapping[str, Any]] | None = None
) -> PolicySet:
    """Load a policy directory (every ``*.toml`` file in it) or a single file.

    ``changed`` gives the parsed content of some of its version files (by file name) to
    load instead of what the files hold: how an authors' test checks that a changed
    version would not load. Errors then name the file without a line."""
    path = Path(path)
    if path.is_dir():
        files = sorted(
            p
            for p in path.glob("*.toml")
            if p.is_file() and p.name not in (CHARTER_FILE, INSTRUMENTS_FILE)
        )
        if not files:
            raise PolicyError(f"{path}: no policy files (*.toml) in this directory")
        folder = path
    elif path.is_file():
        files, folder = [path], path.parent
    else:
        raise PolicyError(f"{path}: no such policy file or directory")
    changed = changed or {}
    unknown = sorted(set(changed) - {f.name for f in files})
    if unknown:
        raise PolicyError(f"{unknown[0]}: not a version file of {path}")
    charter = load_charter(folder)
    versions = sorted(
        (load_version(f, charter, changed.get(f.name)) for f in files), key=lambda v: v.effective
    )
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
    return PolicySet(tuple(versions), charter)


_HEADER_FIELDS = ("name", "version", "title", "effective")
_TABLES = (
    "policy",
    "scale",
    "limits",
    "departments",
    "metrics",
    "caps",
    "cycle",
    "measures",
    "clearances",
    "perks",
    "purposes",
    "repair_tiers",
    "scope",
    "profile",
    "procedure",
    "retention",
)


def load_version(
    path: Path, charter: Charter, content: Mapping[str, Any] | None = None
) -> PolicyVersion:
    """Parse and validate one policy file and check it against ``charter``; errors name
    the file, the line and the field (and the charter's rule). With ``content`` (the
    file's parsed content, given instead of read), errors name no line."""
    if content is not None:
        text, raw = "", content
    else:
        try:
            text = path.read_text(encoding="utf-8")
            raw = tomllib.loads(text)
        except UnicodeDecodeError as exc:
            raise PolicyError(f"{path.name}: expected UTF-8 text ({exc.reason})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"{path.name}: not valid TOML: {exc}") from exc
    try:
        version = PolicyVersion.model_validate(_shape(raw, path, text))
    except pydantic.ValidationError as exc:
        raise PolicyError(_first_error(path, text, exc)) from exc
    try:
        check_version(charter, version)
    except CharterViolation as exc:
        raise located_error(path, text, exc.path, str(exc)) from None
    return version


def _shape(raw: Mapping[str, Any], path: Path, text: str) -> dict[str, Any]:
    """Turn the TOML layout into the model's: ``[policy]`` header, keyed tables."""
    header = raw.get("policy")
    if not isinstance(header, dict):
        raise PolicyError(f"{path.name}: expected a [policy] table with name and effective")
    unknown = sorted(set(raw) - set(_TABLES))
    if unknown:
        raise located_error(
            path, text, (unknown[0],), f"unknown table (expected one of {', '.join(_TABLES)})"
        )
    shaped: dict[str, Any] = {**header, "source": path.name}
    for table in _TABLES[1:]:
        if table in raw:
            shaped[table] = raw[table]
    for keyed in ("metrics", "perks", "profile"):
        body = shaped.get(keyed, {})
        if not isinstance(body, dict):
            raise located_error(path, text, (keyed,), f"expected tables [{keyed}.<code>]")
        shaped[keyed] = {
            code: {"code": code, **value} if isinstance(value, dict) else value
            for code, value in body.items()
        }
    return shaped


def _first_error(path: Path, text: str, exc: pydantic.ValidationError) -> str:
    error = exc.errors()[0]
    loc: tuple[object, ...] = tuple(error["loc"])
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, GuardrailViolation):
        loc = (*loc, *cause.path)
    loc = tuple(part for part in loc if not (isinstance(part, str) and "[" in part))
    if loc and loc[0] not in _TABLES:  # header fields live in [policy]
        loc = ("policy", *loc)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = f"'{loc[-1]}' is required"
    count = exc.error_count()
    more = f" (and {count - 1} more)" if count > 1 else ""
    return str(located_error(path, text, loc or ("policy",), message + more))
