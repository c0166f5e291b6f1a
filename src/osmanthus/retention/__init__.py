"""Retention: the pass that erases what the policy no longer lets the ledger keep
(:mod:`~osmanthus.retention.sweep`), through the ledger's one erasure path
(:mod:`osmanthus.ledger.erasure`)."""

from osmanthus.retention.sweep import RETAINER, RetentionReport, retention_pass

__all__ = ["RETAINER", "RetentionReport", "retention_pass"]
