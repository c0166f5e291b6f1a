"""Data categories: which may be held, and which are prohibited outright.

The prohibited list follows China's 2013 Regulation on the Administration of the Credit
Reporting Industry, Art. 14 (religion, genes, fingerprints, blood type, disease and
medical history), widened as Tianjin (2020) did to all biometrics, and by Osmanthus'
design to ethnicity, political opinion and sexual orientation. A metric in one of these
categories does not load, whatever else it says.
"""

from __future__ import annotations

__all__ = ["PROHIBITED_CATEGORIES", "is_prohibited"]

PROHIBITED_CATEGORIES: frozenset[str] = frozenset(
    {
        "religion",
        "ethnicity",
        "political_opinion",
        "genetics",
        "biometrics",
        "fingerprints",
        "face",
        "blood_type",
        "health",
        "medical_history",
        "sexual_orientation",
    }
)


def is_prohibited(category: str) -> bool:
    """True when ``category`` names a prohibited data category."""
    return category.strip().lower().replace("-", "_").replace(" ", "_") in PROHIBITED_CATEGORIES
