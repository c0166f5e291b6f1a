"""A readable summary of a policy version: every rule with its citation."""

from __future__ import annotations

from osmanthus.policy.duration import Period
from osmanthus.policy.metric import Metric
from osmanthus.policy.model import PolicyVersion

__all__ = ["summarise"]


_FOR_GOOD = "until replaced or retracted (never expires)"


def _class_life(expiry: Period | str) -> str:
    if expiry == "never":
        return _FOR_GOOD
    return f"for {expiry.describe() if isinstance(expiry, Period) else expiry}"


def _effect(metric: Metric) -> str:
    if metric.kind in ("status", "fulfilment"):
        return f"ends {', '.join(metric.fulfils)}" if metric.fulfils else "never scores"
    if metric.severity:
        return "; ".join(
            f"{name}: {s.points:+d} {_class_life(s.expiry)}" for name, s in metric.severity.items()
        )
    if metric.points_per_unit is not None:
        per = f"{metric.points_per_unit:+} per {metric.unit} ({metric.rounding})"
        return f"{per}, values {metric.min_value}..{metric.max_value}"
    return f"{metric.points:+d}"


def _life(metric: Metric) -> str:
    parts = []
    if metric.expiry == "never":
        parts.append(f"counts {_FOR_GOOD}")
    elif metric.expiry is not None:
        life = "the cycle" if metric.expiry == "cycle" else metric.expiry.describe()
        parts.append(f"counts {life} from the {metric.expiry_from} date")
    elif metric.severity:
        parts.append(f"each class counts from the {metric.expiry_from} date")
    if metric.overlie:
        parts.append(f"kept {metric.overlie.describe()} more")
    if metric.repair_tier:
        parts.append(f"repair tier {metric.repair_tier}")
    if metric.forces_grade:
        how = "exactly" if metric.forces_grade_mode == "set" else "at most"
        parts.append(f"forces grade {how} {metric.forces_grade} while it counts")
    if metric.conditions:
        c = metric.conditions
        if c.standing_at_least is not None or c.standing_at_most is not None:
            parts.append(f"only at standing {c.standing_at_least}..{c.standing_at_most}")
        if c.once_per:
            parts.append(f"at most once per {c.once_per.describe()}")
        if c.filed_within:
            parts.append(f"filed within {c.filed_within.describe()}")
    if metric.sunset:
        parts.append(f"sunset {metric.sunset}")
    return "; ".join(parts)


def summarise(version: PolicyVersion) -> list[str]:
    """Lines describing the version, each rule followed by its citation."""
    scale = version.scale
    lines = [
        f"{version.title} — {version.name} {version.version}, in force from {version.effective} "
        f"({version.source})",
        f"scale: baseline {scale.baseline}, floor {scale.floor}, ceiling {scale.ceiling}, "
        f"{scale.direction.replace('_', ' ')}, {scale.clamp} clamp",
        f"limits: at most {version.limits.max_penalty_per_record} penalty points per record"
        + (
            f", {version.limits.max_penalty_per_year} per year"
            if version.limits.max_penalty_per_year
            else ""
        ),
    ]
    lines += [f"band {band.name}: {band.describe()}" for band in scale.bands]
    if version.scope.min_age is not None or version.scope.min_residence is not None:
        residence = version.scope.min_residence
        lines.append(
            f"scope: age >= {version.scope.min_age or 0}"
            + (f", resident for {residence.describe()}" if residence else "")
        )
    if version.cycle:
        lines.append(
            f"cycle: {version.cycle.length.describe()} from each resident's {version.cycle.anchor}"
        )
    for code, metric in version.metrics.items():
        lines.append(
            f"metric {code} [{metric.kind}, {metric.category}] by "
            f"{', '.join(metric.reported_by)}: {_effect(metric)}; {_life(metric)}"
        )
        if metric.legal_basis:
            lines.append(f"    basis: {metric.legal_basis.cite()}")
    for cap in version.caps:
        limit = ", ".join(
            f"{word} {value}"
            for word, value in (("gain", cap.max_gain), ("loss", cap.max_loss))
            if value is not None
        )
        covered = ", ".join(cap.metrics) or "every metric"
        exempt = f" except {', '.join(cap.exempt)}" if cap.exempt else ""
        lines.append(f"cap {cap.name}: {limit} per {cap.window} over {covered}{exempt}")
        if cap.legal_basis:
            lines.append(f"    basis: {cap.legal_basis.cite()}")
    for measure in version.measures:
        edge = f">= {measure.at_least}" if measure.at_least is not None else f"<= {measure.at_most}"
        skip = measure.if_previous_not_taken
        terms = [f"measure {measure.name} at standing {edge}"]
        if measure.during is not None:
            terms.append(f"only within {measure.during.describe()}")
        if measure.lasts is not None:
            terms.append(f"lasts {measure.lasts.describe()}")
        if measure.then_reset_to is not None:
            terms.append(f"then the standing starts again at {measure.then_reset_to}")
        if measure.repeats:
            terms.append("taken again each time the threshold is reached anew")
        if skip:
            terms.append(f"if the previous stage was skipped, reduce to {skip.reduce_to}")
        lines.append("; ".join(terms))
        if measure.legal_basis:
            lines.append(f"    basis: {measure.legal_basis.cite()}")
    for clearance in version.clearances:
        group = ", ".join(clearance.metrics) or "every scored metric"
        lines.append(
            f"clearance {clearance.name}: the records of {group} end once "
            f"{clearance.clean_for.describe()} pass with no new one"
        )
        if clearance.legal_basis:
            lines.append(f"    basis: {clearance.legal_basis.cite()}")
    for code, tier in version.repair_tiers.items():
        lines.append(
            f"repair tier {code}: repair after {tier.min_period.describe()}, "
            f"at most {tier.max_life.describe()}"
            + (
                ", ends early when the obligation is fulfilled"
                if tier.fulfilment_ends_early
                else ""
            )
        )
    for code, perk in version.perks.items():
        wanted = (
            " and ".join(
                text
                for text, given in (
                    (f"score >= {perk.min_score}", perk.min_score is not None),
                    (f"score <= {perk.max_score}", perk.max_score is not None),
                    (f"grade {' or '.join(perk.grades)}", bool(perk.grades)),
                )
                if given
            )
            or "everyone (essential service)"
        )
        lines.append(f"perk {code} ({perk.provider}): {wanted}; valid {perk.valid_for.describe()}")
        lines.append(
            "    asked for: "
            + "; ".join(f"{p} ({version.purpose_title(p)})" for p in perk.allowed_purposes)
        )
        if perk.legal_basis:
            lines.append(f"    basis: {perk.legal_basis.cite()}")
    return lines
