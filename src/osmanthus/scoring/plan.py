"""Planning one record: which rule scores it, what it is worth, and when it stops counting.

A record is scored by the policy version in force on its **act date**. It counts from
its act date until the day before its end, which is the earliest of:

- its expiry (``expiry`` after the act or the decision date, per ``expiry_from``);
- the end of its cycle, when the scheme runs in cycles;
- its repair tier's maximum life;
- for a tier that allows it, the date an obligation-fulfilled record with the same
  incident reference was acted on (never before the tier's minimum period has passed);
- the day an application for its early repair was granted (a ``repair`` row);
- under a clean-period clearance of its group, the day ``clean_for`` has passed after
  the latest act of the group with no new act of the group in between
  (:func:`cleared_on`).

A record with none of these (``expiry = "never"``, allowed only for records that cannot
cost points, or a reduction without an expiry) counts until it is replaced or retracted:
its end is ``date.max``.

With an ``overlie`` period the record is kept and shown after its end until
``end + overlie``, then removed from what anyone sees; a repaired record is not held
over (repair ends its publication).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from osmanthus.core import StoredRecord, Subject
from osmanthus.policy import Clearance, Metric, Period, PolicySet, PolicyVersion

__all__ = ["Plan", "cleared_on", "cycle_bounds", "plan_record"]


@dataclass(frozen=True)
class Plan:
    """The scoring plan of one current record."""

    record: StoredRecord
    rule: PolicyVersion
    metric: Metric
    points: int
    end: dt.date
    removed_on: dt.date | None
    repair_from: dt.date | None
    note: str = ""
    repaired_on: dt.date | None = None
    cleared_on: dt.date | None = None  # a clean period, or a measure's reset, ends it

    @property
    def reduces(self) -> bool:
        """True for reductions, whose effect on the standing is permanent."""
        return self.metric.kind == "reduction"

    @property
    def scored(self) -> bool:
        """True when the record moves the standing (conduct or reduction)."""
        return self.metric.scored


def cycle_bounds(
    version: PolicyVersion, subject: Subject, on: dt.date
) -> tuple[dt.date, dt.date] | None:
    """Start and end of the resident's cycle holding ``on``, or None without cycles."""
    if version.cycle is None:
        return None
    anchor = subject.profile.get(version.cycle.anchor)
    if anchor is None or on < anchor:
        return None
    return version.cycle.bounds(anchor, on)


def plan_record(
    record: StoredRecord,
    policy: PolicySet,
    subject: Subject,
    current: Sequence[StoredRecord],
    repaired: dt.date | None = None,
) -> Plan:
    """Plan one current (not superseded, not retraction) record (``repaired``: the day
    an application for its early repair was granted)."""
    rule = policy.in_force(record.act_date)
    metric = rule.metric(record.metric)
    effect = metric.effect(record.value, record.severity)
    base = record.act_date if metric.expiry_from == "act" else record.decision_date
    ends: list[tuple[dt.date, str]] = []
    cleared_at: set[int] = set()  # which of ``ends`` a clearance gives
    cycle = cycle_bounds(rule, subject, record.act_date)
    if isinstance(effect.expiry, Period):
        ends.append((effect.expiry.after(base), ""))
    if cycle is not None:
        ends.append((cycle[1], f"cycle ends {cycle[1]}"))
    elif rule.cycle is not None:
        ends.append((record.act_date, f"no {rule.cycle.anchor} date: outside any cycle"))
    repair_from = None
    if metric.repair_tier is not None:
        tier = rule.repair_tiers[metric.repair_tier]
        ends.append((tier.max_life.after(base), f"maximum life {tier.max_life.describe()}"))
        repair_from = tier.min_period.after(base)
        fulfilled = _fulfilled_on(record, rule, current)
        if fulfilled is not None and tier.fulfilment_ends_early:
            ends.append((max(fulfilled, repair_from), f"obligation fulfilled {fulfilled}"))
    if repaired is not None:
        ends.append((repaired, f"repaired on {repaired}"))
    for clearance in rule.clearances:
        if clearance.covers(metric.code) and metric.scored:
            day, last = cleared_on(record, clearance, rule, current)
            cleared_at.add(len(ends))
            ends.append(
                (
                    day,
                    f"cleared on {day}: no new record of '{clearance.name}' within "
                    f"{clearance.clean_for.describe()} after {last}",
                )
            )
    if not ends:  # unscored kinds, expiry "never" and permanent reductions
        ends.append((dt.date.max, ""))
    first = min(range(len(ends)), key=lambda k: ends[k][0])
    end, why = ends[first]
    by_repair = repaired is not None and end == repaired
    cleared = end if first in cleared_at else None
    removed_on = (
        metric.overlie.after(end)
        if metric.overlie and end != dt.date.max and not by_repair
        else None
    )
    return Plan(
        record,
        rule,
        metric,
        effect.points,
        end,
        removed_on,
        repair_from,
        why,
        repaired if by_repair else None,
        cleared,
    )


def _fulfilled_on(
    record: StoredRecord, rule: PolicyVersion, current: Sequence[StoredRecord]
) -> dt.date | None:
    if record.incident_ref is None:
        return None
    dates = [
        other.act_date
        for other in current
        if other.incident_ref == record.incident_ref
        and other.id != record.id
        and other.act_date >= record.act_date
        and other.metric in rule.metrics
        and record.metric in rule.metrics[other.metric].fulfils
    ]
    return min(dates, default=None)


def cleared_on(
    record: StoredRecord,
    clearance: Clearance,
    rule: PolicyVersion,
    current: Sequence[StoredRecord],
) -> tuple[dt.date, dt.date]:
    """The day ``clearance`` ends ``record``, and the last act of the group before it:
    from the record's act date, each act of the group within ``clean_for`` of the one
    before keeps the group counting; the first gap of ``clean_for`` clears it."""
    acts = sorted(
        other.act_date
        for other in current
        if other.act_date > record.act_date
        and other.metric in rule.metrics
        and rule.metrics[other.metric].scored
        and clearance.covers(other.metric)
    )
    last = record.act_date
    for act in acts:
        if act >= clearance.clean_for.after(last):
            break
        last = act
    return clearance.clean_for.after(last), last
