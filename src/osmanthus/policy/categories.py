"""Data categories: which may be held, and which are prohibited outright.

The prohibited list follows China's 2013 Regulation on the Administration of the Credit
Reporting Industry, Art. 14 (religion, genes, fingerprints, blood type, disease and
medical history), widened as Tianjin (2020) did to all biometrics, and by Osmanthus'
design to ethnicity, political opinion and sexual orientation. A metric in one of these
categories does not load, whatever else it says.
"""

from __future__ import annotations

import re

__all__ = ["PROHIBITED_CATEGORIES", "PROHIBITED_STEMS", "is_prohibited"]

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


#: Word stems that make a category prohibited wherever they stand in its name
#: ("religious belief", "face_recognition", "DNA profile", "health data", ...).
PROHIBITED_STEMS: tuple[str, ...] = (
    "relig",
    "faith",
    "ethnic",
    "racial",
    "politic",
    "genet",
    "genom",
    "dna",
    "biometric",
    "fingerprint",
    "face",
    "facial",
    "iris",
    "voiceprint",
    "blood",
    "health",
    "medical",
    "disease",
    "diagnos",
    "sexual",
)


def is_prohibited(category: str) -> bool:
    """True when ``category`` names, or has a word of, a prohibited data category."""
    normal = re.sub(r"[^a-z0-9]+", "_", category.strip().lower()).strip("_")
    if normal in PROHIBITED_CATEGORIES:
        return True
    return any(word.startswith(PROHIBITED_STEMS) for word in normal.split("_"))
