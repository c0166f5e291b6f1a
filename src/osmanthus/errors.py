"""The one error tree of Osmanthus.

Every error the library raises on purpose is an :class:`OsmanthusError`; each also
inherits the builtin it resembles, so callers that know nothing of Osmanthus still catch
it sensibly. Foreign exceptions (sqlite3, psycopg, ...) are translated at one boundary,
``osmanthus.ledger.database``, with ``raise X(...) from exc``.

    OsmanthusError
    ├── ConfigError (ValueError)             settings that cannot run
    ├── PolicyError (ValueError)             a policy file that does not load
    ├── ValidationError (ValueError)         input refused at the door
    │   ├── NationalIdError                  a national ID number that is not valid
    │   ├── RecordRefused                    a record the policy or the ledger refuses
    │   ├── ProhibitedData                   a prohibited data category offered at intake
    │   ├── ProofRefused                     an eligibility proof that cannot be issued
    │   └── StepRefused                      a dispute step its state or deadline forbids
    ├── SignatureInvalid (ValueError)        a signed report or proof that does not verify
    ├── NotFound (LookupError)               a resident, department or entry that is not there
    ├── AccessDenied (PermissionError)       a caller without the right to do this
    │   └── NotSignedIn                      no credentials, or credentials that are not valid
    ├── TooManyRequests (RuntimeError)       a caller past a limit (checks per day)
    ├── LedgerError (RuntimeError)           the database failed or is not set up
    └── AuditChainBroken (RuntimeError)      the audit chain does not verify

Messages say what was expected, what was found and where, on one line.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AuditChainBroken",
    "ConfigError",
    "LedgerError",
    "NationalIdError",
    "NotFound",
    "NotSignedIn",
    "OsmanthusError",
    "PolicyError",
    "ProhibitedData",
    "ProofRefused",
    "RecordRefused",
    "SignatureInvalid",
    "StepRefused",
    "TooManyRequests",
    "ValidationError",
]


class OsmanthusError(Exception):
    """Root of every error Osmanthus raises on purpose."""


class ConfigError(OsmanthusError, ValueError):
    """Settings that cannot be used (for example the demo key outside demo mode)."""


class PolicyError(OsmanthusError, ValueError):
    """A policy file that does not load; the message names the file and the field."""


class ValidationError(OsmanthusError, ValueError):
    """Input refused before anything was written."""


class NationalIdError(ValidationError):
    """A national ID number that fails length, character, birth-date or check-digit rules."""


class RecordRefused(ValidationError):
    """A record that the policy or the ledger refuses (unknown metric, wrong department, ...)."""


class ProhibitedData(ValidationError):
    """A batch that offers a prohibited data category (a column such as ``religion``).

    ``category`` is the offending name; intake writes every such refusal to the audit chain.
    """

    def __init__(self, message: str, category: str) -> None:
        super().__init__(message)
        self.category = category


class ProofRefused(ValidationError):
    """An eligibility proof asked for a perk the resident does not hold (a proof says
    only "eligible"; there is no signed proof of not being eligible)."""


class StepRefused(ValidationError):
    """A dispute step that the dispute's state or a deadline does not allow (answering
    twice, appealing late, extending past the limit); the web answers 409."""


class SignatureInvalid(OsmanthusError, ValueError):
    """A signed credit report or eligibility proof that does not verify.

    ``reason`` says which check failed: ``malformed``, ``untrusted`` (signed by a key the
    verifier does not trust), ``signature`` (altered, or signed by another key),
    ``expired`` or ``not_yet_valid``.
    """

    def __init__(self, message: str, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason


class NotFound(OsmanthusError, LookupError):
    """A resident, department or audit entry that does not exist."""


class AccessDenied(OsmanthusError, PermissionError):
    """A caller whose role may not do this (a provider asking for records, say)."""


class NotSignedIn(AccessDenied):
    """No credentials, or credentials that are unknown or revoked."""


class TooManyRequests(OsmanthusError, RuntimeError):
    """A caller past a limit (a provider's checks of one resident in a day)."""


class LedgerError(OsmanthusError, RuntimeError):
    """The ledger database failed, or has not been initialised."""


class AuditChainBroken(OsmanthusError, RuntimeError):
    """The audit chain does not verify; ``seq`` names the first entry that fails."""

    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq
