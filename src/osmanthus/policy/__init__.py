"""Policy: the declarative, versioned rules that every score is computed from."""

from osmanthus.policy.base import LegalBasis
from osmanthus.policy.categories import PROHIBITED_CATEGORIES, is_prohibited
from osmanthus.policy.duration import Period, parse_period
from osmanthus.policy.loader import PolicySet, load_policy, load_version
from osmanthus.policy.metric import Effect, Metric, ReductionConditions, Severity
from osmanthus.policy.model import Department, PolicyVersion
from osmanthus.policy.rules import (
    Cap,
    Cycle,
    Measure,
    Perk,
    ProfileAttribute,
    RepairTier,
    Scope,
    SkipRule,
)
from osmanthus.policy.scale import Band, Limits, Scale
from osmanthus.policy.summary import summarise

__all__ = [
    "PROHIBITED_CATEGORIES",
    "Band",
    "Cap",
    "Cycle",
    "Department",
    "Effect",
    "LegalBasis",
    "Limits",
    "Measure",
    "Metric",
    "Period",
    "Perk",
    "PolicySet",
    "PolicyVersion",
    "ProfileAttribute",
    "ReductionConditions",
    "RepairTier",
    "Scale",
    "Scope",
    "Severity",
    "SkipRule",
    "is_prohibited",
    "load_policy",
    "load_version",
    "parse_period",
    "summarise",
]
