"""The authors' test files (``tests/*.toml`` of a policy directory): their format, read
and checked before anything runs.

A file holds ``[[case]]`` tables (a resident's records scored on a date, and what must
hold then) and ``[[must_not_load]]`` tables (a version of the policy, changed, that the
loader must refuse). docs/policy-language.md §18 describes every field. A file that is
not well formed stops the run with one line naming the file, the entry and the field:
``scoring.toml: case 3: records.1.counts_again: expected a day after set_aside
(2026-11-22), found 2026-11-20``.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import pydantic
from pydantic import BaseModel, ConfigDict, Field, PlainValidator

from osmanthus.errors import PolicyError
from osmanthus.policy import PolicySet
from osmanthus.scoring.reference import Status

__all__ = [
    "Case",
    "CaseRecord",
    "Expect",
    "Message",
    "MustNotLoad",
    "Pattern",
    "RecordExpect",
    "changed_version",
    "describe",
    "load_cases",
    "says",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Pattern(_Strict):
    """A message expected to match a regular expression (anywhere in it)."""

    matches: str


def _message(value: Any, *, allow_false: bool = False) -> str | Pattern | Literal[False]:
    if allow_false and value is False:
        return False
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and set(value) == {"matches"} and isinstance(value["matches"], str):
        try:
            re.compile(value["matches"])
        except re.error as exc:
            raise ValueError(f"matches: not a regular expression: {exc}") from None
        return Pattern(matches=value["matches"])
    also = " or false" if allow_false else ""
    raise ValueError(
        'expected a text the message must contain or { matches = "<regex>" }'
        f"{also}, found {value!r}"
    )


def _day(value: Any) -> dt.date | Literal["never"]:
    if value == "never" or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return cast("dt.date | Literal['never']", value)
    raise ValueError(f'expected a date (2026-11-04) or "never", found {value!r}')


#: An expected message: a text it must contain, or ``{ matches = "regex" }``.
Message = Annotated[str | Pattern, PlainValidator(_message)]
#: An expected refusal, or ``false`` for none.
Refusal = Annotated[
    str | Pattern | Literal[False], PlainValidator(partial(_message, allow_false=True))
]
#: A day, or ``"never"`` for none.
Day = Annotated[dt.date | Literal["never"], PlainValidator(_day)]


def says(expected: Message, text: str) -> bool:
    """True when ``text`` is the message ``expected`` describes."""
    if isinstance(expected, Pattern):
        return re.search(expected.matches, text) is not None
    return expected in text


def describe(expected: Message) -> str:
    """``containing '...'`` or ``matching /.../``, for a failure line."""
    if isinstance(expected, Pattern):
        return f"matching /{expected.matches}/"
    return f"containing {expected!r}"


class RecordExpect(_Strict):
    """What must hold of one record on the case's date; only the fields given are
    checked."""

    status: Status | None = None
    ends: Day | None = None
    removed: Day | None = None
    repair_from: Day | None = None
    refused: Message | None = None
    repair_refused: Refusal | None = None


class CaseRecord(_Strict):
    """A record in a case: a report, or a correction or retraction of an earlier one,
    with the facts that happen to it (repaired, set aside, counting again) and what is
    expected of it."""

    metric: str | None = None
    act: dt.date | None = None
    decision: dt.date | None = None
    value: float | None = None
    severity: str | None = None
    department: str | None = None
    incident: str | None = None
    recorded: dt.datetime | None = None
    corrects: int | None = None
    retracts: int | None = None
    on: dt.date | None = None
    reason: str = "author test"
    repaired: dt.date | None = None
    set_aside: dt.date | None = None
    counts_again: dt.date | None = None
    expect: RecordExpect | None = None

    @property
    def target(self) -> int | None:
        """The earlier record this row corrects or retracts, if any."""
        return self.corrects if self.corrects is not None else self.retracts

    @property
    def refused(self) -> bool:
        """True when the record is expected to be refused at the ledger's door."""
        return self.expect is not None and self.expect.refused is not None


class Expect(_Strict):
    """What the case expects; only the fields given are checked."""

    score: int | None = None
    grade: str | None = None
    measures: list[str] | None = None
    measures_running: list[str] | None = None
    perks: list[str] | None = None
    counted: list[int] | None = None
    out_of_scope: bool | None = None


class Case(_Strict):
    """One author test case."""

    name: str
    on: dt.date
    known_at: dt.datetime | None = None
    birth_year: int | None = None
    profile: dict[str, dt.date] = Field(default_factory=dict)
    records: list[CaseRecord] = Field(default_factory=list)
    expect: Expect
    source: str = ""


class MustNotLoad(_Strict):
    """A version of the policy, changed, that the loader must refuse with ``error``."""

    name: str
    base: str | None = None
    patch: dict[str, Any] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)
    error: Message
    source: str = ""


class _Bad(ValueError):
    """A test-file problem at ``where`` (a dotted field path)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where


_KINDS: dict[str, type[Case] | type[MustNotLoad]] = {"case": Case, "must_not_load": MustNotLoad}


def load_cases(policy_dir: Path, policy: PolicySet) -> list[Case | MustNotLoad]:
    """Every entry of ``policy_dir/tests/*.toml``, in file and then listing order
    (``[[case]]`` before ``[[must_not_load]]``), checked against ``policy``."""
    entries: list[Case | MustNotLoad] = []
    for path in sorted((policy_dir / "tests").glob("*.toml")):
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise PolicyError(f"{path.name}: not a valid test file: {exc}") from exc
        unknown = sorted(set(raw) - set(_KINDS))
        if unknown:
            raise PolicyError(
                f"{path.name}: {unknown[0]}: unknown table (expected [[case]] or [[must_not_load]])"
            )
        for kind, model in _KINDS.items():
            bodies = raw.get(kind, [])
            if not isinstance(bodies, list) or not all(isinstance(b, dict) for b in bodies):
                raise PolicyError(f"{path.name}: expected [[{kind}]] tables")
            for index, body in enumerate(bodies):
                label = f"{kind} {index}"
                source = f"{path.name}#{index}" if kind == "case" else f"{path.name}#{kind}.{index}"
                try:
                    entry = model.model_validate({**body, "source": source})
                    if isinstance(entry, Case):
                        _check_case(entry, policy)
                    else:
                        changed_version(entry, policy_dir, policy)
                except pydantic.ValidationError as exc:
                    error = exc.errors()[0]
                    where = ".".join(str(p) for p in error["loc"])
                    message = str(error["msg"]).removeprefix("Value error, ")
                    raise PolicyError(f"{path.name}: {label}: {where}: {message}") from exc
                except _Bad as exc:
                    raise PolicyError(f"{path.name}: {label}: {exc.where}: {exc}") from None
                entries.append(entry)
    return entries


def _check_case(case: Case, policy: PolicySet) -> None:
    declared = sorted({code for version in policy.versions for code in version.profile})
    for attribute in case.profile:
        if attribute not in declared:
            known = f"declared: {', '.join(declared)}" if declared else "it declares none"
            raise _Bad(
                f"profile.{attribute}",
                f"the policy declares no profile attribute {attribute!r} ({known})",
            )
    for index, item in enumerate(case.records):
        _check_record(case, index, item)


_REPORT_ONLY = ("metric", "act", "decision", "severity", "department", "incident")


def _check_record(case: Case, index: int, item: CaseRecord) -> None:
    at = f"records.{index}"
    target = item.target
    if item.corrects is not None and item.retracts is not None:
        raise _Bad(f"{at}.retracts", "give corrects or retracts, not both")
    if target is None:
        for field in ("metric", "act"):
            if getattr(item, field) is None:
                raise _Bad(f"{at}.{field}", "required for a report")
        if item.on is not None:
            raise _Bad(f"{at}.on", "only a correction or retraction has a day it is recorded")
        assert item.act is not None
        for field in ("repaired", "set_aside"):
            day = getattr(item, field)
            if day is not None and day < item.act:
                raise _Bad(f"{at}.{field}", f"expected a day on or after the act ({item.act})")
    else:
        pointer = f"{at}.{'corrects' if item.corrects is not None else 'retracts'}"
        if not 0 <= target < index:
            raise _Bad(
                pointer,
                f"expected the index of an earlier record (0 to {index - 1}), found {target}",
            )
        for field in _REPORT_ONLY:
            if getattr(item, field) is not None:
                raise _Bad(
                    f"{at}.{field}",
                    f"a correction or retraction keeps the {field} of record {target}",
                )
        if case.records[target].refused:
            raise _Bad(pointer, f"record {target} is expected to be refused: it has no row")
        if item.corrects is not None and item.value is None:
            raise _Bad(f"{at}.value", "a correction needs a value")
        if item.retracts is not None:
            for field in ("value", "repaired", "set_aside", "counts_again"):
                if getattr(item, field) is not None:
                    raise _Bad(f"{at}.{field}", "not for a retraction")
    if item.counts_again is not None:
        if item.set_aside is None:
            raise _Bad(f"{at}.counts_again", "a record counts again only after set_aside")
        if item.counts_again <= item.set_aside:
            raise _Bad(
                f"{at}.counts_again",
                f"expected a day after set_aside ({item.set_aside}), found {item.counts_again}",
            )
    if item.refused:
        assert item.expect is not None
        facts = [f for f in ("repaired", "set_aside", "counts_again") if getattr(item, f)]
        others = [
            name
            for name in RecordExpect.model_fields
            if name != "refused" and getattr(item.expect, name) is not None
        ]
        if facts or others:
            field = facts[0] if facts else f"expect.{others[0]}"
            raise _Bad(f"{at}.{field}", "a refused record has no row: nothing happens to it")


def changed_version(
    entry: MustNotLoad, policy_dir: Path, policy: PolicySet
) -> tuple[str, dict[str, Any]]:
    """The version file ``entry`` changes (its ``base``, else the newest version's) and
    its content as changed: the fields at ``remove`` taken out, then ``patch`` merged in
    (tables key by key, an array entry by its index, any other value replaced)."""
    files = [version.source for version in policy.versions]
    base = entry.base or policy.latest.source
    if base not in files:
        raise _Bad("base", f"expected a version file of the policy ({', '.join(files)})")
    if not entry.patch and not entry.remove:
        raise _Bad("patch", "give patch, remove or both: the version unchanged loads")
    content = copy.deepcopy(tomllib.loads((policy_dir / base).read_text(encoding="utf-8")))
    for number, dotted in enumerate(entry.remove):
        *parents, last = dotted.split(".")
        holder = _walk(content, parents, f"remove.{number}", dotted, base)
        if not _has(holder, last):
            raise _Bad(f"remove.{number}", f"{dotted!r} is not in {base}")
        del holder[int(last) if isinstance(holder, list) else last]
    return base, _merged(content, entry.patch, "patch", base)


def _has(holder: Any, key: str) -> bool:
    if isinstance(holder, dict):
        return key in holder
    return isinstance(holder, list) and key.isdigit() and int(key) < len(holder)


def _walk(content: Any, parts: list[str], where: str, dotted: str, base: str) -> Any:
    holder = content
    for part in parts:
        if not _has(holder, part):
            raise _Bad(where, f"{dotted!r} is not in {base}")
        holder = holder[int(part) if isinstance(holder, list) else part]
    return holder


def _merged(base: Any, patch: Any, where: str, file: str) -> Any:
    if isinstance(patch, Mapping) and isinstance(base, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _merged(base[key], value, f"{where}.{key}", file) if key in base else value
        return out
    if isinstance(patch, Mapping) and isinstance(base, list):
        out_list = list(base)
        for key, value in patch.items():
            if not _has(base, key):
                raise _Bad(
                    f"{where}.{key}",
                    f"expected the index of an entry of {file} (0 to {len(base) - 1})",
                )
            out_list[int(key)] = _merged(base[int(key)], value, f"{where}.{key}", file)
        return out_list
    return patch
