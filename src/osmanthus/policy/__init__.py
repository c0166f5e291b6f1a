"""Policy: the declarative, versioned rules that every score is computed from."""

from osmanthus.policy.base import LegalBasis
from osmanthus.policy.charter import (
    Charter,
    CharterViolation,
    Instrument,
    load_charter,
    prohibited_data,
)
from osmanthus.policy.duration import Period, parse_period
from osmanthus.policy.loader import PolicySet, load_policy, load_version
from osmanthus.policy.metric import Effect, Metric, ReductionConditions, Severity
from osmanthus.policy.model import Department, PolicyVersion
from osmanthus.policy.rules import (
    Cap,
    Clearance,
    Cycle,
    During,
    Measure,
    Perk,
    ProfileAttribute,
    Purpose,
    RepairTier,
    Scope,
    SkipRule,
)
from osmanthus.policy.scale import Band, Limits, Scale
from osmanthus.policy.summary import summarise

__all__ = [
    "Band",
    "Cap",
    "Charter",
    "CharterViolation",
    "Clearance",
    "Cycle",
    "Department",
    "During",
    "Effect",
    "Instrument",
    "LegalBasis",
    "Limits",
    "Measure",
    "Metric",
    "Period",
    "Perk",
    "PolicySet",
    "PolicyVersion",
    "ProfileAttribute",
    "Purpose",
    "ReductionConditions",
    "RepairTier",
    "Scale",
    "Scope",
    "Severity",
    "SkipRule",
    "load_charter",
    "load_policy",
    "load_version",
    "parse_period",
    "prohibited_data",
    "summarise",
]
