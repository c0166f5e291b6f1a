"""The timeline: records applied and expired in date order, with caps, clamping,
reductions and staged measures.

Events up to the scoring date are processed in order of date; on one date, expiries come
before new acts (a record does not count on its end date), and acts in order of act date,
decision date and record id. Each act:

1. A reduction counts only if its conditions hold on its date (standing within range,
   not within ``once_per`` of the last one that counted, filed within ``filed_within``).
2. Caps hold back what would pass them, window by window (calendar day, month or year of
   the act, the resident's cycle, the rolling N days, or the resident's whole lifetime);
   held-back points never return.
   The policy's yearly penalty limit acts as one more cap over every metric.
3. With ``clamp = "running"`` the standing is held between floor and ceiling after every
   event, so absorbed points are lost; with ``"final"`` only the end result is held.
4. After an act that worsens the standing, staged measures are assessed on the standing
   of that date: the next stage's measure is taken; a stage reached with the previous
   measure not taken applies that stage's ``if_previous_not_taken`` rule (the standing
   is reduced, the previous measure taken) when it has one. In a cycle scheme the stages
   count within one cycle: a new cycle starts again from the first stage. A stage with
   ``during`` applies only on dates within its period from the resident's profile date
   (probation); the stages that do not apply are passed over. A stage that ``repeats``
   opens again once the standing falls back below its threshold.
5. Records that end on the same day leave together, and the bounds apply once after.
   Then the measures ending that day with ``then_reset_to`` clear every record that
   still counts (reductions are used up) and set the standing to their value (never
   worse than it was); the ladder starts again from the stage that value reaches. Acts
   of the day come after.
6. A reduction offsets penalty points that count when it applies, never later ones
   (:class:`_Offsets`): it improves the standing by at most the harm that counts and no
   earlier reduction offsets, taken from the records that end last. When an offset
   record ends, only its points not offset leave the standing, so the reduction is used
   up once the points it offset have expired: it never eats into the points of a record
   acted after it, and never becomes a bonus. It never gives points back when it ends.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from osmanthus.core import Subject
from osmanthus.policy import Cap, Measure, PolicyVersion, Scale
from osmanthus.scoring.plan import Plan, cycle_bounds

__all__ = ["Adjustment", "MeasureTaken", "Outcome", "run_timeline", "version_caps"]


@dataclass(frozen=True)
class MeasureTaken:
    """A staged measure the standing triggered."""

    name: str
    date: dt.date
    standing: int
    until: dt.date | None = None


@dataclass(frozen=True)
class Adjustment:
    """A change to the standing that no single record carries (a skipped-stage rule)."""

    date: dt.date
    delta: int
    reason: str


@dataclass
class Outcome:
    """What the timeline leaves on the scoring date."""

    standing: int
    counted: dict[int, int] = field(default_factory=dict)
    notes: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    measures: list[MeasureTaken] = field(default_factory=list)
    adjustments: list[Adjustment] = field(default_factory=list)
    ended: dict[int, tuple[dt.date, str]] = field(default_factory=dict)


class _Offsets:
    """Which penalty points each reduction offsets, record by record.

    ``harm`` is the sign of a penalty (+1 when higher is worse, -1 when higher is better);
    amounts here are in points of harm (positive). A penalty record that counts holds
    ``open`` harm until a reduction takes it; a reduction takes, from the records ending
    last (then acted last), as much as it improved the standing. When a record ends, what
    reductions took from it leaves with it: the standing drops only by the rest.
    """

    def __init__(self, scale: Scale) -> None:
        self.harm = 1 if scale.direction == "higher_is_worse" else -1
        self.open: dict[int, int] = {}  # penalty record id -> its harm not yet offset
        self.rank: dict[int, tuple[dt.date, dt.date, dt.date, int]] = {}
        self.taken: dict[int, dict[int, int]] = {}  # reduction id -> {record id: harm}
        self.used_up: dict[int, dt.date] = {}  # reduction id -> the day its last offset ended

    def available(self) -> int:
        """Harm that counts and that no reduction offsets yet."""
        return sum(self.open.values())

    def counts(self, plan: Plan, moved: int) -> None:
        """A penalty record applied, moving the standing by ``moved``."""
        if self.harm * moved > 0:
            r = plan.record
            self.open[r.id] = self.harm * moved
            self.rank[r.id] = (plan.end, r.act_date, r.decision_date, r.id)

    def offsets(self, plan: Plan, moved: int) -> None:
        """A reduction applied, improving the standing by ``moved``: it takes that much harm
        from the records that end last."""
        amount, taken = max(0, -self.harm * moved), {}
        for record_id in sorted(self.open, key=self.rank.__getitem__, reverse=True):
            if amount <= 0:
                break
            part = min(self.open[record_id], amount)
            if part:
                taken[record_id] = part
                self.open[record_id] -= part
                amount -= part
        self.taken[plan.record.id] = taken

    def leaves(self, record_id: int, moved: int, on: dt.date) -> int:
        """What leaves the standing when a record that moved it by ``moved`` ends: its
        points that no reduction offsets."""
        self.open.pop(record_id, None)
        offset = 0
        for reduction, taken in self.taken.items():
            part = taken.pop(record_id, 0)
            offset += part
            if part and not taken:
                self.used_up[reduction] = on
        return moved - self.harm * offset

    def remaining(self, reduction_id: int) -> int:
        """The signed points a reduction still offsets."""
        return -self.harm * sum(self.taken.get(reduction_id, {}).values())


class _CapBook:
    """How much of each cap's window is used, for gains and for losses."""

    def __init__(self, cap: Cap) -> None:
        self.cap = cap
        self.used: dict[object, list[int]] = defaultdict(lambda: [0, 0])
        self.rolling: list[tuple[dt.date, int, int]] = []

    def _used(self, on: dt.date, cycle: tuple[dt.date, dt.date] | None) -> list[int]:
        days = self.cap.rolling_days
        if days is None:
            return self.used[self._key(on, cycle)]
        since = on - dt.timedelta(days=days)
        window = [(g, lo) for d, g, lo in self.rolling if since < d <= on]
        return [sum(g for g, _ in window), sum(lo for _, lo in window)]

    def room(self, points: int, on: dt.date, cycle: tuple[dt.date, dt.date] | None) -> int:
        """How much of ``points`` the cap still lets through in the window of ``on``."""
        cap, used = self.cap, self._used(on, cycle)
        if points > 0 and cap.max_gain is not None:
            return max(0, min(points, cap.max_gain - used[0]))
        if points < 0 and cap.max_loss is not None:
            return -max(0, min(-points, cap.max_loss - used[1]))
        return points

    def use(self, points: int, on: dt.date, cycle: tuple[dt.date, dt.date] | None) -> None:
        """Count ``points`` (what finally counted) against the window of ``on``."""
        gain, loss = max(points, 0), max(-points, 0)
        if self.cap.rolling_days is not None:
            self.rolling.append((on, gain, loss))
        else:
            used = self.used[self._key(on, cycle)]
            used[0] += gain
            used[1] += loss

    def _key(self, on: dt.date, cycle: tuple[dt.date, dt.date] | None) -> object:
        window = self.cap.window
        if window == "day":
            return on
        if window == "month":
            return (on.year, on.month)
        if window == "year":
            return on.year
        if window == "lifetime":
            return window  # one window that never resets
        return cycle[0] if cycle else None


def version_caps(version: PolicyVersion) -> list[Cap]:
    caps = list(version.caps)
    limit = version.limits.max_penalty_per_year
    if limit is not None:
        worse_up = version.scale.direction == "higher_is_worse"
        caps.append(
            Cap(
                name="yearly penalty limit",
                window="year",
                max_gain=limit if worse_up else None,
                max_loss=None if worse_up else limit,
            )
        )
    return caps


def run_timeline(
    plans: Sequence[Plan], version: PolicyVersion, subject: Subject, as_of: dt.date
) -> Outcome:
    """Apply and expire every scored plan up to ``as_of``; return the standing."""
    scale = version.scale
    outcome = Outcome(standing=scale.baseline)
    books: dict[str, _CapBook] = {}
    events: dict[dt.date, list[tuple[int, dt.date, dt.date, int, Plan]]] = defaultdict(list)
    for plan in plans:
        if not plan.scored or plan.record.act_date > as_of or plan.end <= plan.record.act_date:
            continue  # unscored, not yet acted, or a life of no days (outside any cycle)
        r = plan.record
        events[r.act_date].append((1, r.act_date, r.decision_date, r.id, plan))
        if plan.end <= as_of:
            events[plan.end].append((0, r.act_date, r.decision_date, r.id, plan))
    caps = {id(plan.rule): version_caps(plan.rule) for plan in plans}
    ladder = _Ladder(outcome, subject, scale, as_of)
    effective: dict[int, int] = {}
    offsets = _Offsets(scale)
    last_reduction: dict[str, dt.date] = {}
    days = sorted(events)
    heapq.heapify(days)
    while days:
        date = heapq.heappop(days)
        todays = sorted(events.pop(date, ()), key=lambda e: e[:4])
        # every record ending today leaves together (less what reductions offset), then
        # the bounds apply once
        leaving = sum(
            offsets.leaves(e[3], effective.pop(e[3], 0), date)
            for e in todays
            if e[0] == 0 and not e[4].reduces
        )
        if leaving:
            outcome.standing = _move(scale, outcome.standing, -leaving)
        for measure in ladder.ending.pop(date, ()):
            _reset(measure, date, effective, offsets, outcome, scale)
            ladder.restart()
        ladder.reopen()
        for _, _, _, record_id, plan in (e for e in todays if e[0] == 1):
            points = _reduction(plan, outcome, last_reduction, offsets)
            cycle = cycle_bounds(plan.rule, subject, plan.record.act_date)
            points = _capped(plan, points, caps[id(plan.rule)], books, cycle, outcome)
            before = outcome.standing
            outcome.standing = _move(scale, before, points)
            moved = outcome.standing - before if scale.clamp == "running" else points
            effective[record_id] = moved
            if plan.reduces:
                offsets.offsets(plan, moved)
            else:
                offsets.counts(plan, moved)
            ladder.new_cycle(cycle)
            if scale.worse(points):
                ladder.assess(plan.rule, date)
            else:
                ladder.reopen()
        for day in ladder.ending:
            if day not in events and day not in days:
                events[day] = []
                heapq.heappush(days, day)
    for reduction in offsets.taken:  # what a reduction counts now: what it still offsets
        effective[reduction] = offsets.remaining(reduction)
        if reduction in offsets.used_up and not effective[reduction]:
            outcome.notes[reduction].append(
                f"used up on {offsets.used_up[reduction]}: the points it offset no longer count"
            )
    outcome.counted = effective
    return outcome


def _reset(
    measure: Measure,
    date: dt.date,
    effective: dict[int, int],
    offsets: _Offsets,
    outcome: Outcome,
    scale: Scale,
) -> None:
    """A measure ends with a reset: every record counting stops counting, reductions are
    used up, and the standing is set to the measure's value (never made worse)."""
    value = measure.then_reset_to
    assert value is not None
    target = outcome.standing if scale.worse(value - outcome.standing) else value
    note = f"cleared on {date}: measure '{measure.name}' ended and the standing was reset"
    for record_id in [r for r in effective if r not in offsets.taken]:
        if effective.pop(record_id):
            outcome.ended[record_id] = (date, note)
    for reduction, taken in offsets.taken.items():
        if taken:
            offsets.used_up[reduction] = date
        taken.clear()
    offsets.open.clear()
    # what no record carries any more: the standing is the baseline and the adjustments
    outcome.adjustments.append(
        Adjustment(
            date,
            target - scale.baseline - sum(a.delta for a in outcome.adjustments),
            f"measure '{measure.name}' ended: every record counting is cleared and the "
            f"standing starts again at {target}",
        )
    )
    outcome.standing = target


def _capped(
    plan: Plan,
    points: int,
    caps: Sequence[Cap],
    books: dict[str, _CapBook],
    cycle: tuple[dt.date, dt.date] | None,
    outcome: Outcome,
) -> int:
    """Points after every cap that covers the record; each cap then counts what passed.

    Caps are kept by name, so a cap carried into a new policy version keeps its window.
    """
    act = plan.record.act_date
    rooms = {}
    for cap in caps:
        if points and cap.applies_to(plan.metric.code):
            book = books.setdefault(cap.name, _CapBook(cap))
            book.cap = cap  # the limits of the version in force on the act date
            rooms[cap.name] = book.room(points, act, cycle)
    allowed = points
    if rooms:
        allowed = min(rooms.values()) if points > 0 else max(rooms.values())
    for name in rooms:
        books[name].use(allowed, act, cycle)
    if allowed != points:
        binding = " and ".join(f"'{name}'" for name, room in rooms.items() if room == allowed)
        outcome.notes[plan.record.id].append(
            f"cap {binding} held back {abs(points - allowed)} point(s)"
        )
    return allowed


def _move(scale: Scale, standing: int, delta: int) -> int:
    moved = standing + delta
    return scale.clamp_score(moved) if scale.clamp == "running" else moved


def _reduction(plan: Plan, outcome: Outcome, last: dict[str, dt.date], offsets: _Offsets) -> int:
    """A reduction's points if its conditions hold, at most the penalty points that count
    and no other reduction offsets; 0 with the reason otherwise (a conduct record's
    points)."""
    conditions = plan.metric.conditions
    if plan.metric.kind != "reduction" or conditions is None:
        return plan.points
    r, notes = plan.record, outcome.notes[plan.record.id]
    low, high = conditions.standing_at_least, conditions.standing_at_most
    if (low is not None and outcome.standing < low) or (
        high is not None and outcome.standing > high
    ):
        notes.append(f"not applied: standing {outcome.standing} outside {low}..{high}")
        return 0
    previous = last.get(plan.metric.code)
    if conditions.once_per and previous and conditions.once_per.after(previous) > r.act_date:
        notes.append(
            f"not applied: one already counted on {previous} "
            f"(at most once per {conditions.once_per.describe()})"
        )
        return 0
    if conditions.filed_within and conditions.filed_within.after(r.act_date) < r.decision_date:
        notes.append(
            f"not applied: filed {r.decision_date}, later than "
            f"{conditions.filed_within.describe()} after {r.act_date}"
        )
        return 0
    harm = offsets.available()
    if plan.points and not harm:
        notes.append("not applied: no penalty points count that it could offset")
        return 0
    last[plan.metric.code] = r.act_date
    if abs(plan.points) > harm:
        notes.append(f"limited to {harm} point(s): the penalty points that count, not yet offset")
        return harm if plan.points > 0 else -harm
    return plan.points


class _Ladder:
    """The staged measures taken so far: the last stage taken, the cycle they count in,
    and the measures whose end resets the standing."""

    def __init__(self, outcome: Outcome, subject: Subject, scale: Scale, as_of: dt.date) -> None:
        self.outcome, self.subject, self.scale, self.as_of = outcome, subject, scale, as_of
        self.taken = -1
        self.measures: tuple[Measure, ...] = ()
        self.cycle: dt.date | None = None
        self.ending: dict[dt.date, list[Measure]] = defaultdict(list)

    def new_cycle(self, cycle: tuple[dt.date, dt.date] | None) -> None:
        """Stages are counted within one cycle: a new cycle starts from the first."""
        if cycle is not None and cycle[0] != self.cycle:
            self.taken, self.cycle = -1, cycle[0]

    def reopen(self) -> None:
        """Stages that repeat open again once the standing is below their threshold."""
        standing = self.outcome.standing
        while (
            0 <= self.taken < len(self.measures)
            and self.measures[self.taken].repeats
            and not self.measures[self.taken].reached(standing)
        ):
            self.taken -= 1

    def restart(self) -> None:
        """After a reset the ladder starts again from the stage the standing reaches."""
        standing = self.outcome.standing
        reached = [i for i, m in enumerate(self.measures) if m.reached(standing)]
        self.taken = max(reached, default=-1)

    def assess(self, rule: PolicyVersion, date: dt.date) -> None:
        """Take the measure the standing reaches on ``date``."""
        self.measures = measures = rule.measures
        outcome, scale = self.outcome, self.scale
        applies = [m.applies(self.subject.profile, date) for m in measures]
        for _ in range(len(measures) + 1):
            reached = max(
                (i for i, m in enumerate(measures) if applies[i] and m.reached(outcome.standing)),
                default=-1,
            )
            if reached <= self.taken:
                return
            ahead = [i for i in range(self.taken + 1, reached + 1) if applies[i]]
            skip = measures[ahead[1]].if_previous_not_taken if len(ahead) > 1 else None
            target = None if skip is None else skip.reduce_to
            if target is not None and scale.clamp == "running":
                target = scale.clamp_score(target)  # the standing never leaves the bounds
            if target is None or target == outcome.standing:
                self._take(measures[reached], date)
                self.taken = reached
                return
            outcome.adjustments.append(
                Adjustment(
                    date,
                    target - outcome.standing,
                    f"stage '{measures[ahead[1]].name}' reached without "
                    f"'{measures[ahead[0]].name}': standing reduced to {target}",
                )
            )
            outcome.standing = target

    def _take(self, measure: Measure, date: dt.date) -> None:
        until = measure.lasts.after(date) if measure.lasts is not None else None
        self.outcome.measures.append(MeasureTaken(measure.name, date, self.outcome.standing, until))
        if until is not None and measure.then_reset_to is not None and until <= self.as_of:
            self.ending[until].append(measure)
