"""Signed envelopes: round trips, tampering, untrusted and self-signed documents, the
validity window, canonical JSON, and loading the city's key (demo and production)."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from hypothesis import given
from hypothesis import strategies as st

from factories import write_key
from osmanthus.errors import ConfigError, SignatureInvalid, ValidationError
from osmanthus.reports import (
    PublicKey,
    SigningKey,
    canonical_json,
    demo_signing_key,
    load_signing_key,
    sign_document,
    verify_document,
)
from osmanthus.settings import get_settings

DAY = dt.date(2026, 11, 5)
WINDOW = {"valid_from": "2026-11-01", "valid_until": "2026-11-30"}
SECRET = "x" * 40


def body(**fields: Any) -> dict[str, Any]:
    return {**WINDOW, "score": 123, "name": "苏州 resident", **fields}


def test_a_signed_document_verifies_against_the_city_key(city_key: SigningKey) -> None:
    envelope = sign_document("credit-report/1", body(), city_key)
    assert envelope["osmanthus"] == "credit-report/1"
    assert envelope["signature"]["alg"] == "Ed25519"
    assert envelope["signature"]["key_id"] == city_key.key_id
    assert len(base64.b64decode(envelope["signature"]["value"])) == 64
    text = json.dumps(envelope, indent=2)  # stored and sent as any JSON: form does not matter
    found = verify_document(json.loads(text), [city_key.public], today=DAY)
    assert (found.kind, found.body, found.key_id) == ("credit-report/1", body(), city_key.key_id)
    assert (found.valid_from, found.valid_until) == (dt.date(2026, 11, 1), dt.date(2026, 11, 30))


def test_changing_one_byte_of_the_body_fails(city_key: SigningKey) -> None:
    envelope = sign_document("credit-report/1", body(), city_key)
    text = json.dumps(envelope, ensure_ascii=False)
    forged = json.loads(text.replace('"score": 123', '"score": 124'))
    with pytest.raises(SignatureInvalid, match="does not match") as caught:
        verify_document(forged, [city_key.public], today=DAY)
    assert caught.value.reason == "signature"
    relabelled = copy.deepcopy(envelope)  # the kind is signed too
    relabelled["osmanthus"] = "credit-report/2"
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_document(relabelled, [city_key.public], today=DAY)


def test_a_document_signed_by_another_key_fails(
    city_key: SigningKey, other_key: SigningKey
) -> None:
    envelope = sign_document("credit-report/1", body(), other_key)
    with pytest.raises(SignatureInvalid, match="not trusted") as caught:
        verify_document(envelope, [city_key.public], today=DAY)
    assert caught.value.reason == "untrusted"
    envelope["signature"]["key_id"] = city_key.key_id  # claiming the city's key id
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_document(envelope, [city_key.public], today=DAY)


def test_a_self_signed_document_carrying_its_own_key_fails(
    city_key: SigningKey, other_key: SigningKey
) -> None:
    envelope = sign_document("credit-report/1", body(), other_key)
    envelope["signature"]["public_key"] = other_key.public.base64
    with pytest.raises(SignatureInvalid, match="never trusted"):
        verify_document(envelope, [city_key.public], today=DAY)
    del envelope["signature"]["public_key"]
    envelope["public_key"] = other_key.public.base64
    with pytest.raises(SignatureInvalid, match="malformed document"):
        verify_document(envelope, [city_key.public], today=DAY)
    with pytest.raises(SignatureInvalid, match="no trusted public key"):
        verify_document(sign_document("x/1", body(), other_key), [], today=DAY)


def test_the_validity_window_is_checked_after_the_signature(city_key: SigningKey) -> None:
    envelope = sign_document("credit-report/1", body(), city_key)
    for day in (dt.date(2026, 11, 1), dt.date(2026, 11, 30)):
        verify_document(envelope, [city_key.public], today=day)
    with pytest.raises(SignatureInvalid, match="expired: valid until 2026-11-30") as caught:
        verify_document(envelope, [city_key.public], today=dt.date(2026, 12, 1))
    assert caught.value.reason == "expired"
    with pytest.raises(SignatureInvalid, match="not yet valid") as caught:
        verify_document(envelope, [city_key.public], today=dt.date(2026, 10, 31))
    assert caught.value.reason == "not_yet_valid"
    with pytest.raises(SignatureInvalid, match="expected a proof/1 document"):
        verify_document(envelope, [city_key.public], kind="proof/1", today=DAY)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"valid_until": None}, "body/valid_until: expected an ISO date"),
        ({"valid_from": "1 Nov"}, "body/valid_from: expected an ISO date"),
        ({"valid_from": "2026-12-01"}, "valid_until 2026-11-30 is before valid_from"),
        ({"score": 1.5}, "/body/score: expected text, an integer"),
        ({"nested": {"when": dt.date(2026, 1, 1)}}, "/body/nested/when: expected text"),
    ],
)
def test_signing_refuses_a_body_without_a_window_or_with_unportable_values(
    city_key: SigningKey, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        sign_document("credit-report/1", body(**fields), city_key)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda e: e.pop("body"),
        lambda e: e.update(body=[1]),
        lambda e: e.update(osmanthus="Credit Report"),
        lambda e: e["signature"].update(alg="RS256"),
        lambda e: e["signature"].update(value="not base64!"),
        lambda e: e["signature"].update(value=base64.b64encode(b"short").decode()),
        lambda e: e["signature"].update(key_id=7),
        lambda e: e["body"].update(score=float("nan")),
    ],
)
def test_malformed_envelopes_are_refused(city_key: SigningKey, mangle: Any) -> None:
    envelope = sign_document("credit-report/1", body(), city_key)
    mangle(envelope)
    with pytest.raises(SignatureInvalid, match="malformed") as caught:
        verify_document(envelope, [city_key.public], today=DAY)
    assert caught.value.reason == "malformed"
    with pytest.raises(SignatureInvalid, match="malformed"):
        verify_document("not an object", [city_key.public], today=DAY)


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert (
        canonical_json({"b": [1, True, None], "a": "苏"}) == '{"a":"苏","b":[1,true,null]}'.encode()
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"])), children, max_size=4)
    ),
    max_leaves=20,
)


@given(data=json_values, other=json_values)
def test_any_json_body_round_trips_and_any_change_fails(data: Any, other: Any) -> None:
    key = demo_signing_key()
    envelope = sign_document("test/1", {**WINDOW, "data": data}, key)
    received = json.loads(json.dumps(envelope, ensure_ascii=True, indent=1))
    assert verify_document(received, [key.public], today=DAY).body["data"] == data
    if canonical_json(other) != canonical_json(data):
        received["body"]["data"] = other
        with pytest.raises(SignatureInvalid, match="does not match"):
            verify_document(received, [key.public], today=DAY)


# -- the city's key ----------------------------------------------------------------------


def test_the_demo_key_is_created_on_first_use_and_is_the_published_demo_key(
    tmp_path: Path,
) -> None:
    settings = get_settings(demo_mode=True, data_dir=tmp_path / "var")
    assert load_signing_key(settings, create=False).public == demo_signing_key().public
    assert not (tmp_path / "var" / "demo-signing-key.pem").exists()
    key = load_signing_key(settings)
    path = tmp_path / "var" / "demo-signing-key.pem"
    assert path.exists() and path.stat().st_mode & 0o077 == 0
    assert key.public == demo_signing_key().public and key.source == str(path)
    assert load_signing_key(settings).public == key.public  # read back, not re-created


def test_outside_demo_mode_a_key_file_is_required_and_the_demo_key_refused(
    tmp_path: Path,
) -> None:
    production = get_settings(pseudonym_key=SECRET, data_dir=tmp_path)
    with pytest.raises(ConfigError, match="'signing_key_file' is required outside demo mode"):
        load_signing_key(production)
    demo_file = tmp_path / "copied-demo.pem"
    demo_file.write_bytes(demo_signing_key().pem())
    with pytest.raises(ConfigError, match=f"{demo_file} holds the public demo signing key"):
        load_signing_key(get_settings(pseudonym_key=SECRET, signing_key_file=demo_file))
    real = write_key(tmp_path / "city.pem")
    key = load_signing_key(get_settings(pseudonym_key=SECRET, signing_key_file=real))
    assert key.public != demo_signing_key().public


def test_a_missing_unreadable_or_wrong_key_file_is_one_line_naming_the_file(
    tmp_path: Path,
) -> None:
    def load(path: Path) -> SigningKey:
        return load_signing_key(get_settings(pseudonym_key=SECRET, signing_key_file=path))

    missing = tmp_path / "nowhere.pem"
    with pytest.raises(ConfigError, match=f"{missing}: cannot be read"):
        load(missing)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello")
    with pytest.raises(ConfigError, match=f"{garbage}: not a PEM private key"):
        load(garbage)
    ec = tmp_path / "ec.pem"
    ec.write_bytes(
        generate_private_key(SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ConfigError, match=f"{ec}: expected an Ed25519 key, found an EC key"):
        load(ec)
    with pytest.raises(ConfigError) as caught:
        load(tmp_path)  # a directory
    assert "\n" not in str(caught.value) and f"{tmp_path}: cannot be read" in str(caught.value)


def test_public_keys_parse_from_base64_and_pem_and_refuse_anything_else(
    city_key: SigningKey,
) -> None:
    public = city_key.public
    assert PublicKey.parse(public.base64) == public
    assert PublicKey.parse(public.pem()) == public
    assert len(public.key_id) == 16 and public.key_id == PublicKey(public.raw).key_id
    with pytest.raises(ValidationError, match="holds a private key"):
        PublicKey.parse(city_key.pem().decode())
    with pytest.raises(ValidationError, match="32-byte Ed25519 public key"):
        PublicKey.parse(base64.b64encode(b"x" * 31).decode())
    with pytest.raises(ValidationError, match="not a readable PEM"):
        PublicKey.parse("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
