"""Retention: the pass that erases what the policy no longer lets the ledger keep
(:mod:`~osmanthus.retention.sweep`) and erasure on demand
(:mod:`~osmanthus.retention.on_demand`), through the ledger's one erasure path
(:mod:`osmanthus.ledger.erasure`)."""

from osmanthus.retention.on_demand import erase_on_demand
from osmanthus.retention.sweep import RETAINER, RetentionReport, retention_pass

__all__ = ["RETAINER", "RetentionReport", "erase_on_demand", "retention_pass"]
