"""A policy version: scale, departments, metrics and rules, checked as a whole on load.

Guardrails checked here (a version that breaks one does not load):

- every scored metric, measure, perk and repair tier cites a legal basis with an
  effective date (checked on each object);
- (the city's charter, checked by the loader, adds prohibited data, allowed
  categories, essential services, absolute limits and the registry of citations:
  :mod:`osmanthus.policy.charter`);
- no status metric scores;
- no record can do more harm than ``limits.max_penalty_per_record``, and no loss cap
  allows more than ``limits.max_penalty_per_year``;
- no essential service depends on the score;
- ``expiry = "never"`` only on a metric or severity class none of whose records can cost
  points, and not where a cycle, a repair tier or a clearance would end the record
  anyway;
- a measure's ``then_reset_to`` lies within the scale; a stage may share the threshold
  of the one before only when it applies ``during`` a period (probation);
- every reference (reporting department, repair tier, forced grade, cap metric, cycle
  anchor, fulfilled metric, clearance metric, probation anchor) names something the
  version defines, and every profile attribute is needed by a rule.

A rule past its ``sunset`` date still loads but lapses: :func:`lapsed` names it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import Field, model_validator

from osmanthus.errors import RecordRefused
from osmanthus.policy.base import Code, Strict
from osmanthus.policy.metric import Metric
from osmanthus.policy.procedure import DEFAULT_PROCEDURE, Procedure
from osmanthus.policy.retention import Retention
from osmanthus.policy.rules import (
    DEFAULT_PURPOSE,
    ELIGIBILITY_CHECK,
    Cap,
    Clearance,
    Cycle,
    Measure,
    Perk,
    ProfileAttribute,
    Purpose,
    RepairTier,
    Scope,
)
from osmanthus.policy.scale import Limits, Scale

__all__ = ["Department", "GuardrailViolation", "PolicyVersion"]


class GuardrailViolation(ValueError):
    """A guardrail broken by the version as a whole; ``path`` names the offending field."""

    def __init__(self, path: tuple[object, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


class Department(Strict):
    """A government department that reports records."""

    name: str = Field(min_length=2)
    name_zh: str | None = None


class PolicyVersion(Strict):
    """One version of a policy, in force from ``effective``."""

    name: str
    version: str
    title: str
    effective: dt.date
    source: str = Field(default="", description="File the version was loaded from.")
    scale: Scale
    limits: Limits
    departments: dict[Code, Department]
    metrics: dict[Code, Metric]
    caps: tuple[Cap, ...] = ()
    cycle: Cycle | None = None
    measures: tuple[Measure, ...] = ()
    clearances: tuple[Clearance, ...] = ()
    perks: dict[Code, Perk] = Field(default_factory=dict)
    purposes: dict[Code, Purpose] = Field(default_factory=dict)
    repair_tiers: dict[Code, RepairTier] = Field(default_factory=dict)
    scope: Scope = Field(default_factory=Scope)
    profile: dict[Code, ProfileAttribute] = Field(default_factory=dict)
    procedure: Procedure | None = None
    retention: Retention = Field(default_factory=Retention)

    @property
    def dispute_procedure(self) -> Procedure:
        """The dispute procedure of this version (:data:`DEFAULT_PROCEDURE` if none)."""
        return self.procedure or DEFAULT_PROCEDURE

    @model_validator(mode="after")
    def _guardrails(self) -> PolicyVersion:
        for metric in self.metrics.values():
            self._check_metric(metric)
        for index, cap in enumerate(self.caps):
            self._check_cap(index, cap)
        self._check_profile()
        self._check_measures()
        self._check_clearances()
        self._check_perks()
        names = [cap.name for cap in self.caps]
        if len(set(names)) != len(names):
            raise GuardrailViolation(("caps",), "cap names must be unique")
        return self

    def _check_measures(self) -> None:
        if len({m.name for m in self.measures}) != len(self.measures):
            raise GuardrailViolation(("measures",), "names must be unique")
        for index, (lower, upper) in enumerate(zip(self.measures, self.measures[1:], strict=False)):
            rising = lower.at_least is not None and upper.at_least is not None
            falling = lower.at_most is not None and upper.at_most is not None
            further = (rising and lower.threshold < upper.threshold) or (
                falling and lower.threshold > upper.threshold
            )
            # a stage for a period only (probation) may share its threshold with the
            # stage before it: within the period it is the stage reached
            same = (rising or falling) and lower.threshold == upper.threshold
            if not (further or (same and upper.during is not None)):
                raise GuardrailViolation(
                    ("measures", index + 1),
                    "stages must be listed from the first to the last, each threshold "
                    "further than the one before (or the same, for a stage with 'during')",
                )
        scale = self.scale
        for index, measure in enumerate(self.measures):
            reset = measure.then_reset_to
            if reset is not None and not scale.floor <= reset <= scale.ceiling:
                raise GuardrailViolation(
                    ("measures", index, "then_reset_to"),
                    f"{reset} is outside the scale ({scale.floor} to {scale.ceiling})",
                )

    def _check_clearances(self) -> None:
        if len({c.name for c in self.clearances}) != len(self.clearances):
            raise GuardrailViolation(("clearances",), "names must be unique")
        for index, clearance in enumerate(self.clearances):
            for code in clearance.metrics:
                if code not in self.metrics:
                    raise GuardrailViolation(
                        ("clearances", index, "metrics"), f"unknown metric {code!r}"
                    )
                if not self.metrics[code].scored:
                    raise GuardrailViolation(
                        ("clearances", index, "metrics"),
                        f"metric {code!r} does not score: it has no points to clear",
                    )

    def _check_perks(self) -> None:
        bands = {band.name for band in self.scale.bands}
        for code, perk in self.perks.items():
            for purpose in perk.purposes:
                if purpose not in self.purposes and purpose != DEFAULT_PURPOSE:
                    raise GuardrailViolation(
                        ("perks", code, "purposes"),
                        f"purpose {purpose!r} is not declared in [purposes] "
                        f"(declared: {', '.join(sorted(self.purposes)) or 'none'})",
                    )
            for grade in perk.grades:
                if grade not in bands:
                    raise GuardrailViolation(
                        ("perks", code), f"grades names unknown band {grade!r}"
                    )

    def _check_metric(self, metric: Metric) -> None:
        where = f"metric {metric.code!r}"
        try:
            self._check_metric_rules(metric, where)
        except GuardrailViolation:
            raise
        except ValueError as exc:
            raise GuardrailViolation(("metrics", metric.code), str(exc)) from None

    def _check_metric_rules(self, metric: Metric, where: str) -> None:
        for department in metric.reported_by:
            if department not in self.departments:
                raise ValueError(f"{where}: reported_by names unknown department {department!r}")
        harms = [metric.points or 0] + [s.points for s in metric.severity.values()]
        if metric.points_per_unit is not None:
            harms.append(metric.points_for(metric.min_value))
            if metric.max_value is not None:
                harms.append(metric.points_for(metric.max_value))
        worst = max(self.scale.penalty(points) for points in harms)
        if worst > self.limits.max_penalty_per_record:
            raise ValueError(
                f"{where}: a record may cost {worst} points, above the per-record limit "
                f"of {self.limits.max_penalty_per_record}"
            )
        per_unit = metric.points_per_unit
        if (
            per_unit is not None
            and metric.max_value is None
            and self.scale.worse(1 if per_unit > 0 else -1)
        ):
            raise ValueError(f"{where}: a penalty per unit needs max_value (to bound it)")
        if metric.repair_tier is not None and metric.repair_tier not in self.repair_tiers:
            raise ValueError(f"{where}: unknown repair_tier {metric.repair_tier!r}")
        bands = {band.name for band in self.scale.bands}
        if metric.forces_grade is not None and metric.forces_grade not in bands:
            raise ValueError(f"{where}: forces_grade names unknown band {metric.forces_grade!r}")
        if metric.fulfils and metric.kind != "fulfilment":
            raise ValueError(f"{where}: only a fulfilment metric may name 'fulfils'")
        if metric.kind == "reduction" and any(self.scale.worse(p) for p in harms if p):
            raise ValueError(f"{where}: a reduction must improve the standing (check the sign)")
        for target in metric.fulfils:
            if target not in self.metrics:
                raise ValueError(f"{where}: fulfils unknown metric {target!r}")
        uses_cycle = metric.expiry == "cycle" or any(
            s.expiry == "cycle" for s in metric.severity.values()
        )
        if uses_cycle and self.cycle is None:
            raise ValueError(f"{where}: expiry 'cycle' needs a [cycle] table")
        self._check_never(metric, where, harms)
        if metric.kind == "reduction" and self.scale.clamp != "running":
            raise ValueError(
                f"{where}: a reduction needs scale.clamp = 'running' (it lowers the standing "
                "once; with a final clamp it would cancel later points)"
            )

    def _check_never(self, metric: Metric, where: str, harms: list[int]) -> None:
        """``expiry = "never"`` only where no record can cost points, and only where
        nothing else (a cycle, a repair tier's maximum life) would end the record anyway."""
        lives: list[tuple[tuple[object, ...], list[int]]] = []
        if metric.expiry == "never":  # with severity classes too: refused if any can harm
            lives.append((("metrics", metric.code, "expiry"), harms))
        lives += [
            (("metrics", metric.code, "severity", name, "expiry"), [s.points])
            for name, s in metric.severity.items()
            if s.expiry == "never"
        ]
        for path, points in lives:
            worst = max(self.scale.penalty(p) for p in points)
            if worst:
                raise GuardrailViolation(
                    path,
                    f"{where}: expiry 'never' is only for records that cannot cost points, "
                    f"but a record may cost {worst}: a negative record must expire",
                )
            if self.cycle is not None:
                raise GuardrailViolation(
                    path,
                    f"{where}: expiry 'never' cannot hold in a scheme with a [cycle]: every "
                    "record ends with its cycle (write expiry = 'cycle')",
                )
            if metric.repair_tier is not None:
                raise GuardrailViolation(
                    path,
                    f"{where}: expiry 'never' cannot hold with repair_tier "
                    f"{metric.repair_tier!r}: the tier's max_life ends every record",
                )
            for clearance in self.clearances:
                if clearance.covers(metric.code):
                    raise GuardrailViolation(
                        path,
                        f"{where}: expiry 'never' cannot hold under clearance "
                        f"{clearance.name!r}: a clean period ends the records of its group",
                    )

    def _check_cap(self, index: int, cap: Cap) -> None:
        try:
            self._check_cap_rules(cap, f"cap {cap.name!r}")
        except ValueError as exc:
            raise GuardrailViolation(("caps", index), str(exc)) from None

    def _check_cap_rules(self, cap: Cap, where: str) -> None:
        for code in (*cap.metrics, *cap.exempt):
            if code not in self.metrics:
                raise ValueError(f"{where}: unknown metric {code!r}")
        if cap.window == "cycle" and self.cycle is None:
            raise ValueError(f"{where}: window 'cycle' needs a [cycle] table")
        limit = self.limits.max_penalty_per_year
        penalty = cap.max_gain if self.scale.direction == "higher_is_worse" else cap.max_loss
        if limit is not None and penalty is not None and penalty > limit:
            raise ValueError(
                f"{where}: allows a loss of {penalty} points, above the per-period limit of {limit}"
            )

    def _check_profile(self) -> None:
        needed = set()
        if self.cycle is not None:
            needed.add(self.cycle.anchor)
        if self.scope.min_residence is not None:
            needed.add(self.scope.residence_attribute)
        needed |= self.retention.attributes
        needed |= {m.during.anchor for m in self.measures if m.during is not None}
        for code in needed - set(self.profile):
            raise GuardrailViolation(
                ("profile",), f"attribute {code!r} is used by a rule but not declared"
            )
        for code, attribute in self.profile.items():
            for department in attribute.reported_by:
                if department not in self.departments:
                    raise GuardrailViolation(
                        ("profile", code), f"reported_by names unknown department {department!r}"
                    )
        for code in set(self.profile) - needed:
            raise GuardrailViolation(
                ("profile", code),
                "no rule needs this attribute; profile data is held only where a rule needs it",
            )

    # -- use --------------------------------------------------------------------------

    def purpose_title(self, code: str, language: str = "en") -> str:
        """What a purpose code means, in ``language`` (the code itself if unknown)."""
        found = self.purposes.get(code)
        if found is None and code == DEFAULT_PURPOSE:
            found = ELIGIBILITY_CHECK
        if found is None:
            return code
        return found.title_zh if language == "zh" and found.title_zh else found.title

    def metric(self, code: str) -> Metric:
        """The metric called ``code``, or :class:`RecordRefused`."""
        try:
            return self.metrics[code]
        except KeyError:
            raise RecordRefused(
                f"metric {code!r} is not in policy {self.name} {self.version}"
            ) from None

    def check_report(
        self,
        department: str,
        metric_code: str,
        value: Decimal | float,
        act_date: dt.date | None = None,
        severity: str | None = None,
    ) -> Metric:
        """Check that ``department`` may report ``metric_code`` with ``value`` (and
        ``severity``) for an act on ``act_date``."""
        metric = self.check_reporter(department, metric_code)
        metric.check_value(value)
        if metric.severity or severity is not None:
            metric.effect(value, severity)
        if act_date is not None:
            metric.check_act_date(act_date)
        return metric

    def check_reporter(self, department: str, metric_code: str) -> Metric:
        """The metric, when ``department`` may report it; else :class:`RecordRefused`."""
        if department not in self.departments:
            raise RecordRefused(f"department {department!r} is not in policy {self.name}")
        metric = self.metric(metric_code)
        if department not in metric.reported_by:
            raise RecordRefused(
                f"department {department!r} may not report metric {metric_code!r} "
                f"(allowed: {', '.join(metric.reported_by)})"
            )
        return metric

    def lapsed(self, today: dt.date) -> list[str]:
        """Warnings naming every rule whose sunset date has passed by ``today``."""
        warnings = []
        for code, metric in self.metrics.items():
            if metric.sunset is not None and metric.sunset < today:
                warnings.append(
                    f"{self.source}: metric {code!r} lapsed on {metric.sunset} (sunset); "
                    "acts after it are refused"
                )
        for code, perk in self.perks.items():
            if perk.sunset is not None and perk.sunset < today:
                warnings.append(
                    f"{self.source}: perk {code!r} lapsed on {perk.sunset} (sunset); "
                    "no one is eligible"
                )
        return warnings
