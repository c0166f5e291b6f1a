"""How long the ledger keeps what no rule needs any more (``[retention]``).

- ``records_after_removal``: a record is erased this long after it is removed from what
  anyone sees (the end of its over-lie period, or its end without one); a metric's
  ``retain_for`` sets its own (record classes differ);
- ``death_attribute`` / ``after_death`` and ``departure_attribute`` /
  ``after_departure``: a resident whose death (or departure from the city) the civil
  registry reported as a dated profile fact is erased that long after the date.

Erasure itself is :mod:`osmanthus.ledger.erasure`; the pass that applies these periods is
:mod:`osmanthus.retention`.
"""

from __future__ import annotations

from pydantic import model_validator

from osmanthus.policy.base import Code, LegalBasis, PeriodField, Strict

__all__ = ["Retention"]


class Retention(Strict):
    """The retention periods of a policy version (none: nothing is erased)."""

    records_after_removal: PeriodField | None = None
    death_attribute: Code | None = None
    after_death: PeriodField | None = None
    departure_attribute: Code | None = None
    after_departure: PeriodField | None = None
    legal_basis: LegalBasis | None = None

    @model_validator(mode="after")
    def _paired(self) -> Retention:
        for attribute, period in (
            ("death_attribute", "after_death"),
            ("departure_attribute", "after_departure"),
        ):
            if (getattr(self, attribute) is None) != (getattr(self, period) is None):
                raise ValueError(f"'{attribute}' and '{period}' go together")
        if self.any and self.legal_basis is None:
            raise ValueError("'legal_basis' is required for retention periods")
        return self

    @property
    def any(self) -> bool:
        """True when the version sets any retention period."""
        return any(
            p is not None
            for p in (self.records_after_removal, self.after_death, self.after_departure)
        )

    @property
    def attributes(self) -> set[str]:
        """The profile attributes the retention rules read."""
        return {a for a in (self.death_attribute, self.departure_attribute) if a}
