"""The city's signing key and signed documents (Ed25519 over canonical JSON).

A signed document is an *envelope*::

    {"osmanthus": "credit-report/1",
     "body": {..., "valid_from": "2026-11-01", "valid_until": "2026-11-30"},
     "signature": {"alg": "Ed25519", "key_id": "1f0c...", "value": "<base64>"}}

The signature covers the canonical JSON (sorted keys, no spaces, UTF-8, integers only)
of the whole envelope without ``signature.value``, so the kind, the key id and the body
are all signed. A verifier trusts only the public keys it is given (the city publishes
its key); a key carried inside a document is never trusted. The key id is the first 16
hex characters of SHA-256 over the raw 32-byte public key.

The demo city signs with a public key derived from a published seed, written to
``data_dir/demo-signing-key.pem`` on first use; like the demo pseudonym key it is refused
outside demo mode, by its public key wherever the file lies.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from osmanthus.errors import ConfigError, SignatureInvalid, ValidationError
from osmanthus.settings import Settings

__all__ = [
    "ALGORITHM",
    "PublicKey",
    "SigningKey",
    "VerifiedDocument",
    "canonical_json",
    "demo_signing_key",
    "load_signing_key",
    "read_signing_key",
    "sign_document",
    "verify_document",
]

ALGORITHM = "Ed25519"
#: The demo city's key is derived from this published seed: anyone can sign as the demo.
DEMO_SEED = hashlib.sha256(b"osmanthus demo signing key: public, refused outside demo").digest()
_KIND = re.compile(r"^[a-z][a-z0-9-]{0,39}/[1-9][0-9]{0,3}$")
_ENVELOPE_KEYS = {"osmanthus", "body", "signature"}
_SIGNATURE_KEYS = {"alg", "key_id", "value"}


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 bytes of a JSON value: sorted keys, no spaces, no ASCII escaping.

    Only objects with text keys, arrays, text, integers, booleans and null are allowed
    (no floats: their text differs between languages). Raises :class:`ValidationError`
    naming the path of anything else.
    """
    _check_portable(value, "")
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"document: text is not valid Unicode ({exc.reason})") from None


def _check_portable(value: Any, path: str) -> None:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_portable(item, f"{path}/{index}")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"document: {path or '/'}: keys must be text, found {key!r}")
            _check_portable(item, f"{path}/{key}")
        return
    raise ValidationError(
        f"document: {path or '/'}: expected text, an integer, a boolean, null, a list or an "
        f"object, found {type(value).__name__}"
    )


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key as published: raw 32 bytes, shown as base64 or PEM."""

    raw: bytes

    @property
    def key_id(self) -> str:
        """First 16 hex characters of SHA-256 over the raw key."""
        return hashlib.sha256(self.raw).hexdigest()[:16]

    @property
    def base64(self) -> str:
        """The raw key in standard base64 (44 characters)."""
        return base64.b64encode(self.raw).decode("ascii")

    def pem(self) -> str:
        """The key as a PEM ``PUBLIC KEY`` block (SubjectPublicKeyInfo)."""
        return (
            Ed25519PublicKey.from_public_bytes(self.raw)
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )

    def verifies(self, signature: bytes, message: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except InvalidSignature:
            return False
        return True

    @classmethod
    def parse(cls, text: str, *, source: str = "public key") -> PublicKey:
        """Read a public key given as base64 of the raw 32 bytes or as a PEM block."""
        text = text.strip()
        if "PRIVATE KEY" in text:
            raise ValidationError(
                f"{source}: holds a private key; give the public key "
                "(osmanthus signing-key --pem prints it)"
            )
        if text.startswith("-----BEGIN"):
            try:
                key = serialization.load_pem_public_key(text.encode("ascii"))
            except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError):
                raise ValidationError(f"{source}: not a readable PEM public key") from None
            if not isinstance(key, Ed25519PublicKey):
                raise ValidationError(
                    f"{source}: expected an Ed25519 public key, found {type(key).__name__}"
                )
            return cls(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ValidationError(
                f"{source}: expected the base64 of a 32-byte Ed25519 public key or a PEM "
                f"block, found {text[:24]!r}"
            )
        return cls(raw)


@dataclass(frozen=True)
class SigningKey:
    """The city's private key, where it came from, and its public half."""

    private: Ed25519PrivateKey
    source: str

    @property
    def public(self) -> PublicKey:
        """The public half, to publish."""
        return PublicKey(
            self.private.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        )

    @property
    def key_id(self) -> str:
        """The public key's id."""
        return self.public.key_id

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self.private.sign(message)

    def pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM (for the demo key file)."""
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def demo_signing_key() -> SigningKey:
    """The demo city's key (public: derived from :data:`DEMO_SEED`)."""
    return SigningKey(Ed25519PrivateKey.from_private_bytes(DEMO_SEED), "demo")


def read_signing_key(path: Path) -> SigningKey:
    """Read an unencrypted PEM Ed25519 private key; :class:`ConfigError` names the file."""
    where = f"settings: 'signing_key_file' {path}"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ConfigError(f"{where}: the key is encrypted; give an unencrypted PEM") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"{where}: not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        found = type(key).__name__.removesuffix("PrivateKey")
        raise ConfigError(f"{where}: expected an Ed25519 key, found an {found} key")
    return SigningKey(key, str(path))


def load_signing_key(settings: Settings, *, create: bool = True) -> SigningKey:
    """The key that ``settings`` name.

    Outside demo mode ``signing_key_file`` is required and the demo key is refused. In
    demo mode the default file is created on first use (unless ``create`` is false, when
    the demo key is returned without writing anything).
    """
    path = settings.resolved_signing_key_file
    if path is None:
        raise ConfigError(
            "settings: 'signing_key_file' is required outside demo mode (a PEM Ed25519 "
            "private key: set OSMANTHUS_SIGNING_KEY_FILE)"
        )
    if settings.demo_mode and settings.signing_key_file is None and not path.exists():
        if not create:
            return demo_signing_key()
        _write_demo_key(path)
    key = read_signing_key(path)
    if not settings.demo_mode and key.public == demo_signing_key().public:
        raise ConfigError(
            f"settings: 'signing_key_file' {path} holds the public demo signing key, which "
            "is refused outside demo mode"
        )
    return key


def _write_demo_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # created meanwhile by another process: read that one
        return
    with os.fdopen(fd, "wb") as file:
        file.write(demo_signing_key().pem())


@dataclass(frozen=True)
class VerifiedDocument:
    """A document whose signature, key and validity window have been checked."""

    kind: str
    body: dict[str, Any]
    key_id: str
    valid_from: dt.date
    valid_until: dt.date


def sign_document(kind: str, body: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """Sign ``body`` as a document of ``kind`` (``name/version``) and return the envelope.

    The body must carry its validity window, ``valid_from`` and ``valid_until`` (ISO
    dates, inclusive, in the city's calendar).
    """
    if not _KIND.match(kind):
        raise ValidationError(f"document: kind {kind!r} is not of the form name/version")
    valid_window(body, malformed=ValidationError)
    envelope: dict[str, Any] = {
        "osmanthus": kind,
        "body": dict(body),
        "signature": {"alg": ALGORITHM, "key_id": key.key_id},
    }
    message = canonical_json(envelope)
    signed: dict[str, Any] = json.loads(message)  # exactly what was signed (tuples → lists)
    signed["signature"]["value"] = base64.b64encode(key.sign(message)).decode("ascii")
    return signed


def verify_document(
    envelope: Any,
    public_keys: Iterable[PublicKey],
    *,
    kind: str | None = None,
    today: dt.date | None = None,
) -> VerifiedDocument:
    """Check a signed envelope against the trusted ``public_keys`` and its validity window
    on ``today`` (default: this machine's date); raise :class:`SignatureInvalid` saying
    which check failed. ``kind``, when given, is the only kind accepted."""
    found_kind, body, key_id, value = _parts(envelope)
    if kind is not None and found_kind != kind:
        raise SignatureInvalid(f"expected a {kind} document, found {found_kind!r}")
    key = trusted_key(key_id, public_keys)
    unsigned = {**envelope, "signature": {"alg": ALGORITHM, "key_id": key_id}}
    try:
        message = canonical_json(unsigned)
    except ValidationError as exc:
        raise SignatureInvalid(f"malformed document: {exc}") from None
    if not key.verifies(value, message):
        raise SignatureInvalid(
            f"the signature does not match: the document was altered or not signed by key {key_id}",
            "signature",
        )
    valid_from, valid_until = valid_window(body, malformed=SignatureInvalid)
    check_window(valid_from, valid_until, today)
    return VerifiedDocument(found_kind, body, key_id, valid_from, valid_until)


def _parts(envelope: Any) -> tuple[str, dict[str, Any], str, bytes]:
    if not isinstance(envelope, dict) or set(envelope) != _ENVELOPE_KEYS:
        raise SignatureInvalid(
            "malformed document: expected an object with exactly 'osmanthus', 'body' and "
            "'signature'"
        )
    kind, body, signature = envelope["osmanthus"], envelope["body"], envelope["signature"]
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise SignatureInvalid("malformed document: 'osmanthus' is not of the form name/version")
    if not isinstance(body, dict):
        raise SignatureInvalid("malformed document: 'body' is not an object")
    if not isinstance(signature, dict) or set(signature) != _SIGNATURE_KEYS:
        raise SignatureInvalid(
            "malformed document: 'signature' must hold exactly 'alg', 'key_id' and 'value' "
            "(a key carried in the document is never trusted)"
        )
    if signature["alg"] != ALGORITHM:
        raise SignatureInvalid(
            f"malformed document: signature algorithm {signature['alg']!r}, expected {ALGORITHM!r}"
        )
    key_id = signature["key_id"]
    if not isinstance(key_id, str):
        raise SignatureInvalid("malformed document: 'signature/key_id' is not text")
    try:
        value = base64.b64decode(str(signature["value"]), validate=True)
    except (binascii.Error, ValueError):
        value = b""
    if len(value) != 64:
        raise SignatureInvalid(
            "malformed document: 'signature/value' is not the base64 of a 64-byte signature"
        )
    return kind, body, key_id, value


def trusted_key(key_id: str, public_keys: Iterable[PublicKey]) -> PublicKey:
    """The trusted key with ``key_id``, or :class:`SignatureInvalid` (``untrusted``)."""
    trusted = {key.key_id: key for key in public_keys}
    if not trusted:
        raise SignatureInvalid("no trusted public key was given", "untrusted")
    if key_id not in trusted:
        raise SignatureInvalid(
            f"signed by key {key_id[:32]!r}, which is not trusted (trusted: "
            f"{', '.join(sorted(trusted))})",
            "untrusted",
        )
    return trusted[key_id]


def valid_window(
    body: Mapping[str, Any], *, malformed: type[ValidationError] | type[SignatureInvalid]
) -> tuple[dt.date, dt.date]:
    """The ``valid_from`` and ``valid_until`` dates of a body; ``malformed`` when absent."""
    dates = []
    for name in ("valid_from", "valid_until"):
        text = body.get(name)
        try:
            dates.append(dt.date.fromisoformat(text) if isinstance(text, str) else None)
        except ValueError:
            dates.append(None)
        if dates[-1] is None:
            raise malformed(f"document: body/{name}: expected an ISO date, found {text!r}")
    start, end = dates
    assert start is not None and end is not None
    if end < start:
        raise malformed(f"document: valid_until {end} is before valid_from {start}")
    return start, end


def check_window(valid_from: dt.date, valid_until: dt.date, today: dt.date | None) -> None:
    """Raise :class:`SignatureInvalid` unless ``today`` is within the window.

    Without ``today`` the verifier does not know the issuing city's time zone, so it uses
    every date it is somewhere on Earth right now: a document is expired only once its
    last day has ended everywhere (UTC-12) and not yet valid only while its first day has
    begun nowhere (UTC+14). A city's "today" is always one of those dates.
    """
    now = dt.datetime.now(dt.UTC)
    earliest = today or (now - dt.timedelta(hours=12)).date()
    latest = today or (now + dt.timedelta(hours=14)).date()
    if earliest > valid_until:
        raise SignatureInvalid(
            f"expired: valid until {valid_until}, today is {earliest}", "expired"
        )
    if latest < valid_from:
        raise SignatureInvalid(
            f"not yet valid: valid from {valid_from}, today is {latest}", "not_yet_valid"
        )
