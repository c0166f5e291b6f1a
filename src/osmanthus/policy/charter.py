"""The city's charter: the rules every policy version is checked against, which no policy
can loosen.

``charter.toml`` lives beside the policy's version files, with the registry of legal
instruments in ``instruments.toml``; both have their own legal basis. The charter holds:

- ``categories``: the allow-list of conduct categories; each metric and profile fact
  names one;
- ``[prohibited]`` and ``[essential]``: terms added to the lexicons every charter starts
  from (:mod:`osmanthus.policy.lexicon_terms`); they can add, never remove;
- ``[limits]``: the largest harm per record and per calendar year, the longest life of
  a negative record, and the worst standing a scale may reach, whatever a policy says;
- ``notice_days``: how long before its effective date a version must be approved.

:func:`check_version` checks one version: prohibited data in any text of a metric,
profile fact or perk (code, title, category, unit, description, severity classes); a
score-gated perk for an essential service; the limits; and every citation against the
registry (a registered instrument and article, in force by the date cited). A charter
that contradicts itself (an allowed category that is prohibited data, a yearly limit
below the per-record one, a legal basis outside its own registry) does not load.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pydantic
from pydantic import Field, PrivateAttr, model_validator

from osmanthus.errors import PolicyError
from osmanthus.policy.base import Code, LegalBasis, PeriodField, Strict
from osmanthus.policy.duration import Period
from osmanthus.policy.lexicon import Lexicon, LexiconMatch
from osmanthus.policy.lexicon_terms import ESSENTIAL, ESSENTIAL_EXCEPTIONS, PROHIBITED
from osmanthus.policy.locate import located_error

__all__ = [
    "BASE_PROHIBITED",
    "CHARTER_FILE",
    "INSTRUMENTS_FILE",
    "Charter",
    "CharterViolation",
    "Instrument",
    "check_version",
    "load_charter",
    "prohibited_data",
    "prohibited_refusal",
]

CHARTER_FILE = "charter.toml"
INSTRUMENTS_FILE = "instruments.toml"

#: The prohibited-data lexicon every charter starts from.
BASE_PROHIBITED = Lexicon(PROHIBITED)
_BASE_ESSENTIAL = Lexicon(ESSENTIAL, ESSENTIAL_EXCEPTIONS)
#: Dates to measure periods from: a life of ``5y`` and one of ``1826d`` compare the same
#: way from each (leap years included).
_REFERENCE_DAYS = (dt.date(2023, 3, 1), dt.date(2024, 2, 29), dt.date(2024, 12, 31))


class CharterViolation(ValueError):
    """A rule of the charter broken by a policy version: ``path`` names the field and
    ``rule`` the charter's rule (``prohibited.religion``, ``limits.max_negative_life``)."""

    def __init__(self, path: tuple[object, ...], message: str, rule: str) -> None:
        super().__init__(f"{message} [charter: {rule}]")
        self.path = path
        self.rule = rule


class Instrument(Strict):
    """A legal instrument policies may cite: its name, who issued it, when it came into
    force, and the articles that may be cited."""

    name: str = Field(min_length=3)
    issuer: str = Field(min_length=2)
    in_force: dt.date
    articles: tuple[str, ...] = Field(min_length=1)
    example: bool = False
    url: str | None = None

    def allows(self, article: str) -> bool:
        """True when ``article`` begins with a registered article (``Art. 14`` allows
        ``Art. 14 para. 2``, not ``Art. 140``)."""
        text = " ".join(article.split())
        return any(
            text == known or (text.startswith(known) and not text[len(known)].isalnum())
            for known in self.articles
        )


class CharterLimits(Strict):
    """Limits no policy may exceed, in the points of the policy's scale."""

    max_penalty_per_record: int = Field(gt=0)
    max_penalty_per_year: int = Field(gt=0)
    max_negative_life: PeriodField
    worst_standing: int = Field(
        description="The worst score a scale may reach: its floor when higher is better, "
        "its ceiling when higher is worse."
    )
    longest_answer_days: int | None = Field(
        default=None,
        gt=0,
        description="The longest a department may take to answer a dispute, every allowed "
        "extension included, in calendar days (a working day counts as 7/5 of one).",
    )
    shortest_appeal_days: int | None = Field(
        default=None, gt=0, description="The appeal window may not be shorter."
    )
    longest_review_days: int | None = Field(
        default=None, gt=0, description="The reviewer's deadline may not be longer."
    )


class Charter(Strict):
    """The city's charter for one policy (see the module's description)."""

    name: str = Field(min_length=2)
    title: str = Field(min_length=2)
    legal_basis: LegalBasis
    notice_days: int = Field(ge=0, description="Days between approval and effect, at least.")
    categories: dict[Code, str] = Field(min_length=1)
    limits: CharterLimits
    prohibited: dict[Code, tuple[str, ...]] = Field(default_factory=dict)
    essential: dict[Code, tuple[str, ...]] = Field(default_factory=dict)
    instruments: tuple[Instrument, ...] = ()
    source: str = ""
    _prohibited: Lexicon = PrivateAttr()
    _essential: Lexicon = PrivateAttr()

    @model_validator(mode="after")
    def _consistent(self) -> Charter:
        try:
            self._prohibited = BASE_PROHIBITED.extended(self.prohibited)
            self._essential = _BASE_ESSENTIAL.extended(self.essential)
        except ValueError as exc:
            raise CharterViolation(("prohibited",), str(exc), "lexicon") from None
        for code, description in self.categories.items():
            for text in (code, description):
                found = self._prohibited.find(text)
                if found:
                    raise CharterViolation(
                        ("categories", code),
                        f"allowed category {code!r} is prohibited data ({_says(found)})",
                        "categories",
                    )
        if self.limits.max_penalty_per_year < self.limits.max_penalty_per_record:
            raise CharterViolation(
                ("limits", "max_penalty_per_year"),
                "the yearly limit is below the per-record limit",
                "limits",
            )
        names = [instrument.name for instrument in self.instruments]
        if len(set(names)) != len(names):
            raise CharterViolation(("instruments",), "instrument names must be unique", "registry")
        self.check_citation(self.legal_basis, ("legal_basis",))
        return self

    # -- the one function intake, the ledger and the loader use -------------------------

    def prohibited_data(self, text: str) -> LexiconMatch | None:
        """The prohibited-data term ``text`` matches (the base lexicon and this charter's
        terms), or None."""
        return self._prohibited.find(text)

    def essential_service(self, text: str) -> LexiconMatch | None:
        """The essential-service term ``text`` matches, or None."""
        return self._essential.find(text)

    # -- citations ------------------------------------------------------------------------

    def instrument(self, name: str) -> Instrument | None:
        wanted = " ".join(name.split())
        return next((i for i in self.instruments if i.name == wanted), None)

    def check_citation(self, basis: LegalBasis, path: tuple[object, ...]) -> None:
        """Refuse a citation of an instrument or article outside the registry, or one
        that says the provision took effect before the instrument did."""
        instrument = self.instrument(basis.instrument)
        if instrument is None:
            raise CharterViolation(
                (*path, "instrument"),
                f"instrument {basis.instrument!r} is not in the registry of legal "
                f"instruments ({INSTRUMENTS_FILE})",
                "registry",
            )
        if not instrument.allows(basis.article):
            raise CharterViolation(
                (*path, "article"),
                f"article {basis.article!r} is not a registered article of "
                f"{instrument.name!r} (registered: {', '.join(instrument.articles)})",
                "registry",
            )
        if basis.effective < instrument.in_force:
            raise CharterViolation(
                (*path, "effective"),
                f"effective {basis.effective} is before {instrument.name!r} came into force "
                f"({instrument.in_force})",
                "registry",
            )


def prohibited_data(charter: Charter | None, text: str) -> LexiconMatch | None:
    """:meth:`Charter.prohibited_data`, or the base lexicon where no charter is at hand
    (a batch file's column names, read before the policy is)."""
    return charter.prohibited_data(text) if charter is not None else BASE_PROHIBITED.find(text)


def prohibited_refusal(found: LexiconMatch, what: str) -> str:
    """The one-line refusal of ``what`` (a column, a metric code, a reason) that matched
    prohibited-data term ``found``, naming the charter's rule."""
    return (
        f"{what} is prohibited data ({_says(found)}): never collected (the refusal is "
        f"logged) [charter: prohibited.{found.group}]"
    )


def _says(found: LexiconMatch) -> str:
    return f"{found.group.replace('_', ' ')}: {found.term.removesuffix('$')!r}"


# -- loading ---------------------------------------------------------------------------


def load_charter(folder: Path) -> Charter:
    """The charter beside the policy files in ``folder`` (``charter.toml``), with its
    registry (``instruments.toml``); a missing or broken one is a :class:`PolicyError`
    naming the file, the line and the field."""
    path = folder / CHARTER_FILE
    if not path.is_file():
        raise PolicyError(
            f"{folder}: no {CHARTER_FILE} beside the policy: every policy is checked "
            "against the city's charter"
        )
    text, raw = _read(path)
    registry = folder / INSTRUMENTS_FILE
    if not registry.is_file():
        raise PolicyError(f"{folder}: no {INSTRUMENTS_FILE} (the registry of legal instruments)")
    registry_text, instruments = _read(registry)
    listed = instruments.get("instrument", [])
    unknown = sorted(set(instruments) - {"instrument"})
    if unknown or not isinstance(listed, list):
        raise PolicyError(f"{INSTRUMENTS_FILE}: expected [[instrument]] tables only")
    body = raw.get("charter")
    if not isinstance(body, dict):
        raise PolicyError(f"{CHARTER_FILE}: expected a [charter] table")
    extra = sorted(set(raw) - {"charter", "categories", "limits", "prohibited", "essential"})
    if extra:
        raise located_error(path, text, (extra[0],), "unknown table")
    for index, entry in enumerate(listed):
        try:
            Instrument.model_validate(entry)
        except pydantic.ValidationError as exc:
            error = exc.errors()[0]
            where = ("instrument", str(index), *map(str, error["loc"]))
            raise located_error(registry, registry_text, where, _message(error)) from None
    shaped = {
        **body,
        **{
            key: raw[key]
            for key in ("categories", "limits", "prohibited", "essential")
            if key in raw
        },
        "instruments": listed,
        "source": path.name,
    }
    try:
        return Charter.model_validate(shaped)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, CharterViolation):
            raise located_error(path, text, cause.path, str(cause)) from None
        where = tuple(map(str, error["loc"]))
        if where and where[0] not in ("categories", "limits", "prohibited", "essential"):
            where = ("charter", *where)
        raise located_error(path, text, where, _message(error)) from None


def _read(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
        return text, tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path.name}: expected UTF-8 text ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path.name}: not valid TOML: {exc}") from exc


def _message(error: Mapping[str, Any]) -> str:
    if error["type"] == "missing":
        return f"'{error['loc'][-1]}' is required"
    return str(error["msg"]).removeprefix("Value error, ")


# -- checking a version --------------------------------------------------------------------


def check_version(charter: Charter, version: Any) -> None:
    """Raise :class:`CharterViolation` at the first rule of ``charter`` that ``version``
    (a :class:`osmanthus.policy.PolicyVersion`) breaks."""
    _check_data(charter, version)
    _check_perks(charter, version)
    _check_limits(charter, version)
    for path, basis in _citations(version, ()):
        charter.check_citation(basis, path)


def _check_data(charter: Charter, version: Any) -> None:
    for code, metric in version.metrics.items():
        base = ("metrics", code)
        for field, text in _texts(metric, ("legal_basis", "reported_by", "fulfils")):
            _refuse_prohibited(charter, (*base, *field), text)
        if metric.category not in charter.categories:
            raise CharterViolation(
                (*base, "category"),
                f"category {metric.category!r} is not an allowed conduct category "
                f"(allowed: {', '.join(sorted(charter.categories))})",
                "categories",
            )
    for code, attribute in version.profile.items():
        base = ("profile", code)
        for field, text in _texts(attribute, ("legal_basis", "reported_by")):
            _refuse_prohibited(charter, (*base, *field), text)
        if attribute.category not in charter.categories:
            raise CharterViolation(
                (*base, "category"),
                f"category {attribute.category!r} is not an allowed category",
                "categories",
            )


def _check_perks(charter: Charter, version: Any) -> None:
    for code, perk in version.perks.items():
        base = ("perks", code)
        texts = list(_texts(perk, ("legal_basis", "grades")))
        for field, text in texts:
            _refuse_prohibited(charter, (*base, *field), text)
        if perk.essential:  # open to every resident: no score decides it
            continue
        for field, text in texts:
            found = charter.essential_service(text)
            if found:
                raise CharterViolation(
                    (*base, *field),
                    f"an essential service may not depend on the score ({_says(found)}), "
                    "flagged essential or not",
                    f"essential.{found.group}",
                )


def _refuse_prohibited(charter: Charter, path: tuple[object, ...], text: str) -> None:
    found = charter.prohibited_data(text)
    if found:
        raise CharterViolation(
            path,
            f"prohibited data: {text!r} ({_says(found)})",
            f"prohibited.{found.group}",
        )


def _calendar_days(days: int, procedure: Any) -> int:
    """Days of a procedure as calendar days (a working day is 7/5 of one, rounded up)."""
    return days if procedure.days == "calendar" else -(-days * 7 // 5)


def _check_procedure(charter: Charter, version: Any) -> None:
    """A policy cannot make disputes slower, or appeals shorter, than the charter allows
    (a version without a procedure uses the platform's default, checked the same way)."""
    limits, procedure = charter.limits, version.dispute_procedure
    extension = procedure.extension
    answer = procedure.answer_within + (extension.max_days * extension.times if extension else 0)
    longest = _calendar_days(answer, procedure)
    if limits.longest_answer_days is not None and longest > limits.longest_answer_days:
        raise CharterViolation(
            ("procedure", "answer_within"),
            f"a department may take {longest} days to answer, extensions included, above "
            f"the charter's {limits.longest_answer_days}",
            "limits.longest_answer_days",
        )
    appeal = _calendar_days(procedure.appeal_within, procedure)
    if limits.shortest_appeal_days is not None and appeal < limits.shortest_appeal_days:
        raise CharterViolation(
            ("procedure", "appeal_within"),
            f"{appeal} days to appeal is below the charter's {limits.shortest_appeal_days}",
            "limits.shortest_appeal_days",
        )
    review = _calendar_days(procedure.review_within, procedure)
    if limits.longest_review_days is not None and review > limits.longest_review_days:
        raise CharterViolation(
            ("procedure", "review_within"),
            f"{review} days to review is above the charter's {limits.longest_review_days}",
            "limits.longest_review_days",
        )


def _check_limits(charter: Charter, version: Any) -> None:
    _check_procedure(charter, version)
    limits, scale = charter.limits, version.scale
    if version.limits.max_penalty_per_record > limits.max_penalty_per_record:
        raise CharterViolation(
            ("limits", "max_penalty_per_record"),
            f"{version.limits.max_penalty_per_record} points per record is above the "
            f"charter's {limits.max_penalty_per_record}",
            "limits.max_penalty_per_record",
        )
    yearly = version.limits.max_penalty_per_year
    if yearly is None or yearly > limits.max_penalty_per_year:
        found = "a yearly limit is required" if yearly is None else f"{yearly} points per year"
        raise CharterViolation(
            ("limits", "max_penalty_per_year"),
            f"{found}: the charter allows at most {limits.max_penalty_per_year}",
            "limits.max_penalty_per_year",
        )
    worst = scale.floor if scale.direction == "higher_is_better" else scale.ceiling
    beyond = (
        worst < limits.worst_standing
        if scale.direction == "higher_is_better"
        else worst > limits.worst_standing
    )
    if beyond:
        edge = "floor" if scale.direction == "higher_is_better" else "ceiling"
        raise CharterViolation(
            ("scale", edge),
            f"a {edge} of {worst} goes beyond the charter's worst standing {limits.worst_standing}",
            "limits.worst_standing",
        )
    _check_lives(charter, version)


def _check_lives(charter: Charter, version: Any) -> None:
    longest = charter.limits.max_negative_life
    scale = version.scale
    for code, metric in version.metrics.items():
        classes: list[tuple[tuple[object, ...], int, Any]] = [
            (("metrics", code, "expiry"), metric.points_for(metric.max_value or 1), metric.expiry)
        ]
        classes += [
            (("metrics", code, "severity", name, "expiry"), s.points, s.expiry)
            for name, s in metric.severity.items()
        ]
        if metric.points_per_unit is not None:
            classes.append(
                (("metrics", code, "expiry"), metric.points_for(metric.min_value), metric.expiry)
            )
        for path, points, expiry in classes:
            if not metric.scored or not scale.worse(points):
                continue
            life = _life(version, expiry)
            if life is None:  # no expiry, or "never": only records that cannot cost points
                found = f" (found expiry {expiry!r})" if expiry == "never" else ""
                raise CharterViolation(
                    path, f"a negative record must expire{found}", "limits.max_negative_life"
                )
            if _longer([life], longest):  # an overlie period keeps it without counting it
                raise CharterViolation(
                    path,
                    f"a negative record would count for {life}, longer than the charter's "
                    f"{longest}",
                    "limits.max_negative_life",
                )
    for code, tier in version.repair_tiers.items():
        if _longer([tier.max_life], longest):
            raise CharterViolation(
                ("repair_tiers", code, "max_life"),
                f"max_life {tier.max_life} is longer than the charter's {longest}",
                "limits.max_negative_life",
            )


def _life(version: Any, expiry: Any) -> Period | None:
    if expiry == "cycle":
        return version.cycle.length if version.cycle is not None else None
    return expiry if isinstance(expiry, Period) else None


def _longer(parts: list[Period], longest: Period) -> bool:
    for start in _REFERENCE_DAYS:
        end = start
        for part in parts:
            end = part.after(end)
        if end > longest.after(start):
            return True
    return False


def _texts(model: Any, skip: tuple[str, ...]) -> Iterator[tuple[tuple[object, ...], str]]:
    """Every text of ``model`` with its path: strings, keys of its tables, and the texts
    of the models it holds (severity classes)."""
    for name in type(model).model_fields:
        if name in skip:
            continue
        value = getattr(model, name)
        if isinstance(value, str):
            yield (name,), value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield (name, key), str(key)
                if isinstance(item, Strict):
                    for inner, text in _texts(item, skip):
                        yield (name, key, *inner), text
                elif isinstance(item, str):
                    yield (name, key), item


def _citations(
    node: Any, path: tuple[object, ...]
) -> Iterator[tuple[tuple[object, ...], LegalBasis]]:
    if isinstance(node, LegalBasis):
        yield path, node
    elif isinstance(node, Strict):
        for name in type(node).model_fields:
            yield from _citations(getattr(node, name), (*path, name))
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _citations(value, (*path, key))
    elif isinstance(node, tuple):
        for index, value in enumerate(node):
            yield from _citations(value, (*path, index))
