import datetime as dt

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from factories import make_id
from osmanthus.errors import NationalIdError
from osmanthus.identity import check_character, mask, pseudonym, pseudonyms, validate, validate_many

TODAY = dt.date(2026, 11, 1)


def test_known_valid_number_passes() -> None:
    # The standard's worked example: 11010519491231002 has check character X.
    assert check_character("11010519491231002") == "X"
    assert validate("11010519491231002x", today=TODAY) == "11010519491231002X"


def test_wrong_check_digit_says_so() -> None:
    number = make_id()
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    with pytest.raises(NationalIdError, match=r"check digit is ., expected " + number[17]):
        validate(wrong, today=TODAY)


@pytest.mark.parametrize("number", ["32050819870315001", "3205081987031500123", ""])
def test_wrong_length_says_so(number: str) -> None:
    with pytest.raises(NationalIdError, match=f"expected 18 characters, found {len(number)}"):
        validate(number, today=TODAY)


def test_letters_are_refused() -> None:
    with pytest.raises(NationalIdError, match="other characters"):
        validate("3205081987O315001X", today=TODAY)


@pytest.mark.parametrize("born", ["19870230", "20230229", "19871301", "19870000"])
def test_impossible_birth_date_says_so(born: str) -> None:
    with pytest.raises(NationalIdError, match=r"birth date \(characters 7 to 14\) is not a real"):
        validate(make_id(born=born), today=TODAY)


def test_messages_never_show_more_than_the_mask() -> None:
    number = make_id(born="19590230")
    with pytest.raises(NationalIdError) as info:
        validate(number, today=TODAY)
    assert "19590230" not in str(info.value) and number[6:14] not in str(info.value)


@pytest.mark.parametrize("born", ["18991231", "20261102"])
def test_birth_date_before_1900_or_in_future_is_impossible(born: str) -> None:
    with pytest.raises(NationalIdError, match="is impossible"):
        validate(make_id(born=born), today=TODAY)


def test_leap_day_birth_is_valid() -> None:
    assert validate(make_id(born="20000229"), today=TODAY)


def test_error_message_masks_the_number() -> None:
    number = make_id()
    with pytest.raises(NationalIdError) as info:
        validate(number[:17] + "Z", today=TODAY)
    assert number[:17] not in str(info.value)
    assert mask(number) in str(info.value) or "320508" in str(info.value)


def test_validate_many_names_the_first_bad_row() -> None:
    good = [make_id(sequence=i) for i in range(1, 6)]
    bad = [*good[:3], make_id(born="19870230"), good[4][:17] + "0"]
    with pytest.raises(NationalIdError, match=r"^row 3: .*not a real date"):
        validate_many(bad, today=TODAY)
    assert validate_many(good, today=TODAY).tolist() == good


id_text = st.one_of(
    st.builds(
        make_id,
        area=st.integers(110000, 659999),
        born=st.dates(dt.date(1880, 1, 1), dt.date(2030, 12, 31)).map(
            lambda d: d.strftime("%Y%m%d")
        ),
        sequence=st.integers(0, 999),
    ),
    st.text(alphabet="0123456789Xx", min_size=16, max_size=19),
    st.text(max_size=20),
)


@given(st.lists(id_text, min_size=1, max_size=30))
def test_vectorised_validation_agrees_with_the_scalar_one(numbers: list[str]) -> None:
    def scalar_ok(n: str) -> bool:
        try:
            validate(n, today=TODAY)
            return True
        except NationalIdError:
            return False

    expected = [scalar_ok(n) for n in numbers]
    try:
        validate_many(np.array(numbers), today=TODAY)
        got_all_ok = True
    except NationalIdError as exc:
        got_all_ok = False
        row = int(str(exc).split(":")[0].removeprefix("row "))
        assert expected[row] is False and all(expected[:row])
    assert got_all_ok == all(expected)


def test_pseudonym_is_keyed_and_stable() -> None:
    number = make_id()
    assert pseudonym(b"k" * 32, number) == pseudonym(b"k" * 32, number)
    assert pseudonym(b"k" * 32, number) != pseudonym(b"j" * 32, number)
    assert pseudonyms(b"k" * 32, [number]) == [pseudonym(b"k" * 32, number)]
    assert number not in pseudonym(b"k" * 32, number)
