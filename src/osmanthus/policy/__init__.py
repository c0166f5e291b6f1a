"""Policy: the declarative, versioned rules that every score is computed from."""

from osmanthus.policy.categories import PROHIBITED_CATEGORIES, is_prohibited
from osmanthus.policy.duration import Period, parse_period
from osmanthus.policy.loader import PolicySet, load_policy, load_version
from osmanthus.policy.model import Department, LegalBasis, Metric, PolicyVersion, Scale

__all__ = [
    "PROHIBITED_CATEGORIES",
    "Department",
    "LegalBasis",
    "Metric",
    "Period",
    "PolicySet",
    "PolicyVersion",
    "Scale",
    "is_prohibited",
    "load_policy",
    "load_version",
    "parse_period",
]
