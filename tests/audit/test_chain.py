from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osmanthus.audit import (
    GENESIS_HASH,
    canonical,
    canonical_around_seq,
    chain_hash,
    encode_detail,
    entry_hash,
    verify_entries,
)
from osmanthus.errors import AuditChainBroken

entry_body = st.fixed_dictionaries(
    {
        "at": st.text(min_size=1, max_size=30),
        "actor": st.text(min_size=1, max_size=20),
        "action": st.text(min_size=1, max_size=20),
        "subject": st.one_of(st.none(), st.text(max_size=64)),
        "purpose": st.text(max_size=40),
        "detail": st.dictionaries(
            st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=4
        ).map(encode_detail),
    }
)


def build_chain(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    chain, prev = [], GENESIS_HASH
    for seq, body in enumerate(bodies, start=1):
        entry = {"seq": seq, **body, "prev_hash": prev}
        entry["hash"] = prev = entry_hash(prev, entry)
        chain.append(entry)
    return chain


@given(entry_body, st.integers(min_value=1, max_value=2**63 - 1))
def test_the_parts_around_seq_are_the_canonical_bytes(body: dict[str, Any], seq: int) -> None:
    """What writers hash (encoded before the head is known) is what verification hashes."""
    before, after = canonical_around_seq(**body)
    entry = {"seq": seq, **body}
    assert before + b"%d" % seq + after == canonical(entry)
    assert chain_hash("ab" * 32, before, seq, after) == entry_hash("ab" * 32, entry)


@given(st.lists(entry_body, max_size=20))
def test_an_untouched_chain_verifies(bodies: list[dict[str, Any]]) -> None:
    chain = build_chain(bodies)
    head = verify_entries(chain, expected_head=chain[-1]["hash"] if chain else GENESIS_HASH)
    assert head.count == len(chain)


@given(st.lists(entry_body, min_size=1, max_size=20), st.data())
def test_any_edit_is_found_at_its_entry(bodies: list[dict[str, Any]], data: st.DataObject) -> None:
    chain = build_chain(bodies)
    victim = data.draw(st.integers(0, len(chain) - 1))
    field = data.draw(st.sampled_from(["at", "actor", "action", "subject", "purpose", "detail"]))
    original = chain[victim][field]
    chain[victim][field] = (original or "") + "!"
    with pytest.raises(AuditChainBroken) as info:
        verify_entries(chain)
    assert info.value.seq == victim + 1
    assert f"audit entry {victim + 1}:" in str(info.value)


@given(st.lists(entry_body, min_size=2, max_size=20), st.data())
def test_removing_an_entry_is_found(bodies: list[dict[str, Any]], data: st.DataObject) -> None:
    chain = build_chain(bodies)
    victim = data.draw(st.integers(0, len(chain) - 2))
    del chain[victim]
    with pytest.raises(AuditChainBroken) as info:
        verify_entries(chain)
    assert info.value.seq == victim + 1


def test_removing_the_newest_entry_needs_the_published_head() -> None:
    chain = build_chain(
        [{"at": "t", "actor": "a", "action": "x", "subject": None, "purpose": "p", "detail": "{}"}]
        * 3
    )
    head = chain[-1]["hash"]
    verify_entries(chain[:-1])  # without the published head the shorter chain is consistent
    with pytest.raises(AuditChainBroken, match="no entry with the published head"):
        verify_entries(chain[:-1], expected_head=head)


def test_rehashing_an_edited_entry_breaks_the_next_link() -> None:
    chain = build_chain(
        [{"at": "t", "actor": "a", "action": "x", "subject": None, "purpose": "p", "detail": "{}"}]
        * 3
    )
    chain[1]["actor"] = "mallory"
    chain[1]["hash"] = entry_hash(chain[1]["prev_hash"], chain[1])
    with pytest.raises(AuditChainBroken, match="audit entry 3: prev_hash does not match"):
        verify_entries(chain)
