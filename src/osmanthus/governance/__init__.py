"""Governance: policy bundles proposed, validated against the charter, reported on for
impact, and approved by a second person before anything scores with them."""

from osmanthus.governance.bundle import GOVERNING, Bundle
from osmanthus.governance.decisions import (
    APPROVER,
    approve,
    approved,
    approved_policy,
    history,
    policy_in_force,
    proposal,
    reject,
)
from osmanthus.governance.proposals import Proposal, propose, validate

__all__ = [
    "APPROVER",
    "GOVERNING",
    "Bundle",
    "Proposal",
    "approve",
    "approved",
    "approved_policy",
    "history",
    "policy_in_force",
    "proposal",
    "propose",
    "reject",
    "validate",
]
