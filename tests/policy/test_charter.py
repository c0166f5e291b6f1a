"""The city's charter, attacked as a careless or hostile policy author would: prohibited
data under every spelling (English, Chinese, Pinyin, look-alike letters, digits for
letters, split letters) refused alike by the loader, by intake and by a direct append;
honest conduct still loads; limits, essential services and citations that no policy can
loosen; and a charter that contradicts itself does not load."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from factories import OPERATOR, POLICY_DIR, make_id
from minimal_policy import BASIS, MINIMAL, TEST_CHARTER, write_charter, write_policy
from osmanthus.errors import PolicyError, ProhibitedData
from osmanthus.intake import submit_batch
from osmanthus.ledger import Actor, Ledger, NewRecord
from osmanthus.policy import CharterViolation, load_charter, load_policy, prohibited_data
from osmanthus.policy.charter import check_version

#: Prohibited data as a hostile or careless author would write it. Each entry: the text,
#: and the group of the charter's rule it breaks.
PROHIBITED_CASES: list[tuple[str, str]] = [
    # English, as an honest author would name it
    ("church_visits", "religion"),
    ("Attends Friday prayers at a mosque", "religion"),
    ("religious_activity", "religion"),
    ("ethnic_group", "ethnicity"),
    ("uyghur_origin", "ethnicity"),
    ("ccp_membership", "political_opinion"),
    ("political_opinion", "political_opinion"),
    ("protest_participation", "political_opinion"),
    ("trade_union_membership", "trade_union"),
    ("genetic_test_result", "genetics"),
    ("dna_sample", "genetics"),
    ("fingerprint_scan", "biometrics"),
    ("facial_recognition_hit", "biometrics"),
    ("iris_scan", "biometrics"),
    ("blood_type", "blood_type"),
    ("hiv_status", "health"),
    ("pregnancy", "health"),
    ("medical_history", "health"),
    ("mental_illness", "health"),
    ("sexual_orientation", "sex_life_and_orientation"),
    ("location_trace", "location"),
    ("gps_whereabouts", "location"),
    ("wechat_moments", "communications"),
    ("phone_call_records", "communications"),
    ("social_media_posts", "communications"),
    ("relatives_defaulters", "social_graph"),
    ("social_graph", "social_graph"),
    ("friends_scores", "social_graph"),
    ("informant_tip", "informant_tips"),
    ("petitioning_beijing", "petitioning_and_criticism"),
    ("criticism_of_officials", "petitioning_and_criticism"),
    # spelling games
    ("c.h.u.r.c.h", "religion"),
    ("ChurchVisits", "religion"),
    ("r3l1g10us_event", "religion"),
    ("Relіgion (Cyrillic і)", "religion"),
    ("ＲＥＬＩＧＩＯＮ", "religion"),
    ("m0sque_attendance", "religion"),
    ("H-I-V test", "health"),
    ("pr3gn4ncy", "health"),
    ("we chat logs", "communications"),
    ("F A C E match", "biometrics"),
    ("B-L-O-O-D type", "blood_type"),
    ("Trade-Union dues", "trade_union"),
    # Hanyu Pinyin
    ("zongjiao", "religion"),
    ("zong_jiao_huodong", "religion"),
    ("qingzhensi", "religion"),
    ("dangyuan", "political_opinion"),
    ("gonghui", "trade_union"),
    ("zhiwen", "biometrics"),
    ("renlian", "biometrics"),
    ("xuexing", "blood_type"),
    ("jiankang_ma", "health"),
    ("aizibing", "health"),
    ("tongxinglian", "sex_life_and_orientation"),
    ("dingwei", "location"),
    ("pengyouquan", "communications"),
    ("qinshu_shixin", "social_graph"),
    ("xinfang", "petitioning_and_criticism"),
    # Simplified Chinese
    ("宗教活动", "religion"),
    ("做礼拜", "religion"),
    ("宗 教 活 动", "religion"),
    ("宗-教", "religion"),
    ("少数民族", "ethnicity"),
    ("党员身份", "political_opinion"),
    ("工会会员", "trade_union"),
    ("基因检测", "genetics"),
    ("人脸识别", "biometrics"),
    ("血型", "blood_type"),
    ("健康码", "health"),
    ("艾滋病", "health"),
    ("怀孕", "health"),
    ("同性恋", "sex_life_and_orientation"),
    ("行程轨迹", "location"),
    ("微信聊天记录", "communications"),
    ("亲属失信", "social_graph"),
    ("举报线索", "informant_tips"),
    ("越级上访", "petitioning_and_criticism"),
    ("批评政府", "petitioning_and_criticism"),
]

#: Honest conduct metrics that must still load and be accepted.
HONEST = [
    "running_red_light",
    "drunk_driving",
    "tax_arrears",
    "court_judgment_unpaid",
    "volunteer_hours",
    "charitable_donation",
    "illegal_dumping",
    "fare_evasion",
    "loan_default",
    "street_racing",
    "hit_and_run",
    "Failure to yield to pedestrians at a crosswalk",
    "被列入失信被执行人名单",
    "欠缴税款逾期未缴",
    "good_faith_payment_plan",
    "third_party_insurance_lapse",
]

DEPT = Actor("department", "traffic-police")


def _metric_titled(title: str) -> str:
    escaped = title.replace("\\", "\\\\").replace('"', '\\"')
    return MINIMAL.replace('title = "Bad conduct"', f'title = "{escaped}"')


def test_there_are_at_least_sixty_prohibited_cases_in_both_languages() -> None:
    assert len(PROHIBITED_CASES) >= 60
    han = [text for text, _ in PROHIBITED_CASES if re.search(r"[\u4e00-\u9fff]", text)]
    assert len(han) >= 15 and len(PROHIBITED_CASES) - len(han) >= 45


@pytest.mark.parametrize(("text", "group"), PROHIBITED_CASES, ids=[c[0] for c in PROHIBITED_CASES])
def test_the_loader_refuses_prohibited_data_in_a_metric(
    tmp_path: Path, text: str, group: str
) -> None:
    policy = _metric_titled(text)
    with pytest.raises(PolicyError) as refused:
        load_policy(write_policy(tmp_path, policy))
    message = str(refused.value)
    assert "\n" not in message
    assert re.match(r"^policy\.toml:\d+: metrics\.bad\.title: prohibited data: ", message), message
    assert message.endswith(f"[charter: prohibited.{group}]"), message


@pytest.mark.parametrize(
    ("field", "replace", "by"),
    [
        ("bad.code", "[metrics.bad]", "[metrics.church_visits]"),
        ("good.category", 'category = "conduct_test"', 'category = "location_trace"'),
        ("bad.unit", "points = -10\n", 'points_per_unit = -1\nunit = "prayer"\nmax_value = 5\n'),
    ],
)
def test_every_text_of_a_metric_is_read(tmp_path: Path, field: str, replace: str, by: str) -> None:
    text = MINIMAL.replace(replace, by, 1)
    with pytest.raises(PolicyError, match=r"prohibited data: .*\[charter: prohibited\."):
        load_policy(write_policy(tmp_path, text))


def test_a_perk_and_a_profile_fact_are_read_too(tmp_path: Path) -> None:
    perk = MINIMAL + (
        '\n[perks.pray]\ntitle = "Prayer room"\nprovider = "City"\nmin_score = 1\n'
        f'valid_for = "1m"\n{BASIS}\n'
    )
    with pytest.raises(PolicyError, match=r"perks\.pray\.code: prohibited data"):
        load_policy(write_policy(tmp_path, perk))
    fact = MINIMAL + (
        '\n[cycle]\nlength = "12m"\nanchor = "moved"\n\n[profile.moved]\n'
        'title = "Date of the last GPS check-in"\ncategory = "residence"\nreported_by = ["dept"]\n'
    )
    shutil.rmtree(tmp_path)
    tmp_path.mkdir()
    with pytest.raises(PolicyError, match=r"profile\.moved\.title: prohibited data"):
        load_policy(write_policy(tmp_path, fact))


@pytest.mark.parametrize("text", HONEST)
def test_honest_conduct_still_loads(tmp_path: Path, text: str) -> None:
    assert prohibited_data(None, text) is None
    load_policy(write_policy(tmp_path, _metric_titled(text)))


def test_every_shipped_policy_passes_its_charter() -> None:
    for folder in sorted((POLICY_DIR.parent).iterdir()):
        policy = load_policy(folder)
        assert policy.charter is not None and policy.charter.instruments


def test_intake_refuses_every_case_naming_the_charter_rule(ledger: Ledger, tmp_path: Path) -> None:
    number = make_id()
    ledger.register_resident(number, "gusu", actor=OPERATOR)
    day = ledger.today() - dt.timedelta(days=3)
    lines = ["national_id,metric,act_date,decision_date,source_ref"]
    for index, (text, _) in enumerate(PROHIBITED_CASES):
        quoted = '"' + text.replace('"', '""') + '"'
        lines.append(f"{number},{quoted},{day},{day},P-{index}")
    batch = tmp_path / "batch.csv"
    batch.write_text("\n".join(lines) + "\n", encoding="utf-8")
    outcome = submit_batch(ledger, batch, department="traffic-police", actor=DEPT, partial=True)
    assert outcome.accepted == 0 and outcome.refused == len(PROHIBITED_CASES)
    reasons = {problem.row: problem.reason for problem in outcome.problems}
    for index, (text, group) in enumerate(PROHIBITED_CASES, start=1):
        assert reasons[index].endswith(f"[charter: prohibited.{group}]"), (text, reasons[index])


@pytest.mark.parametrize(("text", "group"), PROHIBITED_CASES[::4])
def test_a_direct_append_refuses_and_audits_it(
    ledger: Ledger, make_record: Callable[..., NewRecord], text: str, group: str
) -> None:
    from osmanthus.ledger import chain_head

    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    before = chain_head(ledger.engine).seq
    with pytest.raises(ProhibitedData, match=rf"\[charter: prohibited\.{group}\]$"):
        ledger.append_record(make_record(metric=text), actor=DEPT)
    assert chain_head(ledger.engine).seq == before + 1  # the refusal, audited


def test_all_prohibited_cases_are_refused_by_a_direct_append(
    ledger: Ledger, make_record: Callable[..., NewRecord]
) -> None:
    ledger.register_resident(make_id(), "gusu", actor=OPERATOR)
    for text, group in PROHIBITED_CASES:
        with pytest.raises(ProhibitedData) as refused:
            ledger.append_record(make_record(metric=text), actor=DEPT)
        assert str(refused.value).endswith(f"[charter: prohibited.{group}]"), text


# -- limits no policy can loosen -------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("max_penalty_per_record = 50", "max_penalty_per_record = 5000"),
            r"limits\.max_penalty_per_record: 5000 points per record is above the charter's "
            r"1000 \[charter: limits\.max_penalty_per_record\]",
        ),
        (
            ("max_penalty_per_year = 500\n", ""),
            r"limits\.max_penalty_per_year: a yearly limit is required: the charter allows at "
            r"most 10000 \[charter: limits\.max_penalty_per_year\]",
        ),
        (
            ("max_penalty_per_year = 500", "max_penalty_per_year = 20000"),
            r"20000 points per year: the charter allows at most 10000",
        ),
        (
            ('points = -10\nexpiry = "1y"', 'points = -10\nexpiry = "99y"'),
            r"metrics\.bad\.expiry: a negative record would count for 99y, longer than the "
            r"charter's 10y \[charter: limits\.max_negative_life\]",
        ),
        (
            ("floor = 0", "floor = -20000"),
            r"scale\.floor: a floor of -20000 goes beyond the charter's worst standing -10000",
        ),
    ],
)
def test_limits_no_policy_can_loosen(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    text = MINIMAL.replace(*change, 1)
    assert text != MINIMAL
    with pytest.raises(PolicyError, match=message):
        load_policy(write_policy(tmp_path, text))


def test_a_thousand_point_deduction_does_not_load_even_when_the_policy_allows_it(
    tmp_path: Path,
) -> None:
    charter = TEST_CHARTER.replace("max_penalty_per_record = 1000", "max_penalty_per_record = 60")
    write_charter(tmp_path, charter)
    text = MINIMAL.replace("max_penalty_per_record = 50", "max_penalty_per_record = 1000").replace(
        "points = -10", "points = -1000"
    )
    with pytest.raises(PolicyError, match=r"above the charter's 60"):
        load_policy(write_policy(tmp_path, text))


def test_a_negative_severity_class_must_expire_within_the_charter(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        f'points = -10\nexpiry = "1y"\n{BASIS}',
        f'{BASIS}\n[metrics.bad.severity.grave]\npoints = -10\nexpiry = "11y"',
    )
    with pytest.raises(PolicyError, match=r"metrics\.bad\.severity\.grave\.expiry: .* 11y"):
        load_policy(write_policy(tmp_path, text))


def test_the_charter_keeps_a_negative_record_mortal_even_past_the_loader(
    tmp_path: Path,
) -> None:
    """The loader refuses ``expiry = "never"`` on a metric that can cost points; the
    charter does not trust that check: a version that slipped past it (built in code, or
    by a loader that forgot) still breaks the charter's rule."""
    policy = load_policy(write_policy(tmp_path, MINIMAL))
    version = policy.latest
    bad = version.metrics["bad"].model_copy(update={"expiry": "never"})
    slipped = version.model_copy(update={"metrics": {**version.metrics, "bad": bad}})
    assert policy.charter is not None
    with pytest.raises(CharterViolation) as info:
        check_version(policy.charter, slipped)
    assert info.value.path == ("metrics", "bad", "expiry")
    assert str(info.value) == (
        "a negative record must expire (found expiry 'never') [charter: limits.max_negative_life]"
    )
    check_version(policy.charter, version)  # the version as loaded passes


# -- essential services ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    [
        "Household water connection",
        "School enrolment",
        "Hospital admission",
        "Emergency care",
        "供暖服务",
        "Minimum living allowance (dibao)",
        "Hukou registration",
    ],
)
def test_an_essential_service_is_never_gated_on_the_score(tmp_path: Path, title: str) -> None:
    text = MINIMAL + (
        f'\n[perks.service]\ntitle = "{title}"\nprovider = "City"\nmin_score = 90\n'
        f'valid_for = "1y"\n{BASIS}\n'
    )
    with pytest.raises(
        PolicyError,
        match=r"perks\.service\.title: an essential service may not depend on the score .*"
        r"\[charter: essential\.",
    ):
        load_policy(write_policy(tmp_path, text))


def test_a_convenience_around_a_service_stays_a_perk(tmp_path: Path) -> None:
    text = MINIMAL + (
        '\n[perks.priority]\ntitle = "Priority booking for non-emergency hospital services"\n'
        f'title_zh = "非急诊就医优先"\nprovider = "City hospitals"\nmin_score = 110\n'
        f'valid_for = "1y"\n{BASIS}\n'
    )
    policy = load_policy(write_policy(tmp_path, text))
    assert "priority" in policy.latest.perks


# -- citations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("basis", "message"),
    [
        (
            'legal_basis = { instrument = "xyz", article = "-", effective = 2020-01-01 }',
            r"metrics\.bad\.legal_basis\.instrument: instrument 'xyz' is not in the registry",
        ),
        (
            'legal_basis = { instrument = "Test Measures", article = "-", effective = 2020-01-01 }',
            r"metrics\.bad\.legal_basis\.article: article '-' is not a registered article",
        ),
        (
            'legal_basis = { instrument = "Test Measures", article = "Art. 10", '
            "effective = 2020-01-01 }",
            r"article 'Art\. 10' is not a registered article",
        ),
        (
            'legal_basis = { instrument = "Charity Law", article = "Art. 91", '
            "effective = 2010-01-01 }",
            r"legal_basis\.effective: effective 2010-01-01 is before 'Charity Law' came into "
            r"force \(2016-09-01\) \[charter: registry\]",
        ),
    ],
)
def test_citations_must_come_from_the_registry(tmp_path: Path, basis: str, message: str) -> None:
    head, tail = MINIMAL.split("[metrics.bad]")
    text = head + "[metrics.bad]" + tail.replace(BASIS, basis)
    with pytest.raises(PolicyError, match=message):
        load_policy(write_policy(tmp_path, text))


def test_an_article_with_detail_after_a_registered_one_is_allowed(tmp_path: Path) -> None:
    basis = (
        'legal_basis = { instrument = "Test Measures", article = "Art. 2 para. 3", '
        "effective = 2020-01-01 }"
    )
    head, tail = MINIMAL.split("[metrics.bad]")
    load_policy(write_policy(tmp_path, head + "[metrics.bad]" + tail.replace(BASIS, basis)))


# -- the charter itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('conduct_test = "Conduct, for tests"', 'religious_events = "Events"'),
            r"charter\.toml:\d+: categories\.religious_events: allowed category "
            r"'religious_events' is prohibited data",
        ),
        (
            ("max_penalty_per_year = 10000", "max_penalty_per_year = 10"),
            r"limits\.max_penalty_per_year: the yearly limit is below the per-record limit",
        ),
        (
            ('instrument = "Test Measures"', 'instrument = "Unregistered Act"'),
            r"legal_basis\.instrument: instrument 'Unregistered Act' is not in the registry",
        ),
        (
            ('max_negative_life = "10y"', 'max_negative_life = "forever"'),
            r"limits\.max_negative_life: expected a period",
        ),
    ],
)
def test_a_charter_that_contradicts_itself_does_not_load(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    write_charter(tmp_path, TEST_CHARTER.replace(*change, 1))
    with pytest.raises(PolicyError, match=message) as refused:
        load_charter(tmp_path)
    assert "\n" not in str(refused.value)


def test_no_charter_no_policy(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text(MINIMAL, encoding="utf-8")
    with pytest.raises(PolicyError, match=r"no charter\.toml beside the policy"):
        load_policy(tmp_path)


def test_a_charter_adds_terms_and_cannot_remove_any(tmp_path: Path) -> None:
    charter = TEST_CHARTER + '\n[prohibited]\nsocial_graph = ["neighbourhood_ties"]\n'
    write_charter(tmp_path, charter)
    with pytest.raises(PolicyError, match=r"\[charter: prohibited\.social_graph\]"):
        load_policy(write_policy(tmp_path, _metric_titled("neighbourhood_ties")))
    # a charter group named like a base one only adds to it: 'church' is still refused
    assert load_charter(tmp_path).prohibited_data("church_visits") is not None


def test_the_example_city_adds_its_own_term() -> None:
    charter = load_policy(POLICY_DIR).charter
    assert charter is not None
    found = charter.prohibited_data("邻里关系评分")
    assert found is not None and found.group == "social_graph"
