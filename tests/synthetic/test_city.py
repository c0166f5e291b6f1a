import datetime as dt

import numpy as np
import pytest

from factories import OPERATOR
from osmanthus.identity import validate_many
from osmanthus.ledger import Ledger, iter_population
from osmanthus.policy import PolicySet
from osmanthus.scoring import distribution, explain
from osmanthus.synthetic import CitySpec, generate_city, load_city
from osmanthus.synthetic.city import DEFAULTS

AS_OF = dt.date(2026, 11, 1)


def test_same_seed_same_city_other_seed_other_city(policy: PolicySet) -> None:
    version = policy.in_force(AS_OF)
    first = next(generate_city(CitySpec(residents=3_000, seed=7, as_of=AS_OF), version))
    again = next(generate_city(CitySpec(residents=3_000, seed=7, as_of=AS_OF), version))
    other = next(generate_city(CitySpec(residents=3_000, seed=8, as_of=AS_OF), version))
    assert first.people.national_id.tolist() == again.people.national_id.tolist()
    assert first.records.source_ref.tolist() == again.records.source_ref.tolist()
    assert first.records.act_date.tolist() == again.records.act_date.tolist()
    assert first.people.national_id.tolist() != other.people.national_id.tolist()


def test_id_numbers_are_valid_and_unique_across_chunks(policy: PolicySet) -> None:
    spec = CitySpec(residents=250_000, seed=3, as_of=AS_OF)
    numbers = np.concatenate([c.people.national_id for c in generate_city(spec, policy.latest)])
    assert numbers.shape[0] == 250_000
    assert np.unique(numbers).shape[0] == 250_000
    validate_many(numbers, today=AS_OF)


@pytest.mark.parametrize("residents", [5_000])
def test_city_in_the_ledger_matches_the_calibration_exactly(ledger: Ledger, residents: int) -> None:
    spec = CitySpec(residents=residents, seed=11, as_of=AS_OF)
    loaded = load_city(ledger, spec)
    result = distribution(ledger, AS_OF, actor=OPERATOR)
    assert result.total == loaded.residents == residents
    assert result.below == round(residents * spec.below_share)
    assert result.above == round(residents * spec.above_share)
    assert result.at == residents - result.above - result.below
    assert loaded.records > 3 * residents
    for _, _, rows in iter_population(ledger.engine, actor=OPERATOR, purpose="test"):
        scored = explain(rows, ledger.policy, AS_OF)
        assert scored.score == scored.scale.clamp_score(100 + scored.counted_total)
        if scored.score < 100:  # every resident below 100 is a defaulter
            assert any(line.counted < 0 and line.record.metric in DEFAULTS for line in scored.lines)


def test_birth_dates_do_not_pile_up(policy: PolicySet) -> None:
    """Sequence numbers (3 digits) must last to 13 million residents: no area and birth
    date may hold more than a handful of residents per chunk."""
    chunk = next(generate_city(CitySpec(residents=100_000, as_of=AS_OF), policy.latest))
    keys = np.char.add(
        np.char.ljust(chunk.people.national_id, 18).astype("<U14"), ""
    )  # area code + birth date
    _, counts = np.unique(keys, return_counts=True)
    assert counts.max() <= 20
