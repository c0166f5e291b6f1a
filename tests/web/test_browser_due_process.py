"""The whole dispute loop in a real browser, in English and in Chinese, against a real
``osmanthus serve``: a department reports a record; the resident gives an e-mail address,
files a dispute; the department (its console) rejects it with a reason; the resident
appeals; the reviewer overturns; the score is restored; the notices are in the inbox and,
after ``osmanthus notices deliver``, in a real SMTP server's mailbox."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from test_browser import browser, shot, shots  # noqa: F401  (fixtures)

from smtp_server import smtp_server

CLI = [sys.executable, "-m", "osmanthus"]
#: Texts of the states, per language (the pages' own catalogue).
TEXT = {
    "en": {
        "open": "awaiting the department's answer",
        "rejected": "rejected: the record stands",
        "appealed": "appealed: awaiting the reviewer's decision",
        "overturned": "overturned by the reviewer",
        "filed subject": "was received",
    },
    "zh": {
        "open": "等待部门答复",
        "rejected": "已驳回",
        "appealed": "已申请复核",
        "overturned": "复核人撤销原答复",
        "filed subject": "的异议",
    },
}


@pytest.fixture
def contexts(browser: Browser) -> Iterator[dict[str, Page]]:  # noqa: F811
    made = {}
    for who in ("resident", "department", "reviewer"):
        context = browser.new_context(
            locale="en-US", viewport={"width": 1100, "height": 900}, bypass_csp=True
        )
        made[who] = context.new_page()
    yield made
    for page in made.values():
        page.context.close()


def _language(page: Page, url: str, lang: str, back: str) -> None:
    page.goto(f"{url}/lang/{lang}?back={back}")


def _sign_in_key(page: Page, url: str, key: str, lang: str, home: str) -> None:
    page.goto(f"{url}/signin")
    page.locator("input[name=key]").fill(key)
    page.locator("form[action='/signin/key'] button").click()
    expect(page).to_have_url(re.compile(home + "$"))
    _language(page, url, lang, home)


def _report_record(city: dict[str, str], national_id: str, ref: str) -> None:
    """The department sends one negative record through its API."""
    day = (dt.date.today() - dt.timedelta(days=2)).isoformat()
    body = (
        "national_id,metric,act_date,decision_date,source_ref,value\n"
        f"{national_id},failure_to_yield,{day},{day},{ref},1\n"
    )
    response = httpx.post(
        f"{city['url']}/api/v1/batches",
        content=body.encode(),
        headers={
            "Authorization": f"Bearer {city['department_key']}",
            "Content-Type": "text/csv",
        },
        params={"batch_id": ref},
        timeout=30,
    )
    assert response.status_code in (200, 201), response.text
    assert response.json()["accepted"] == 1


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_whole_dispute_loop_in_the_browser(
    contexts: dict[str, Page],
    city: dict[str, str],
    shots: Path,  # noqa: F811  (the fixture imported above)
    lang: str,
) -> None:
    url, text = city["url"], TEXT[lang]
    resident, department, reviewer = (contexts[w] for w in ("resident", "department", "reviewer"))
    number = city["resident_at"]

    # the resident signs in, in the language under test, and gives an address
    resident.goto(f"{url}/signin")
    resident.locator("input[name=national_id]").fill(number)
    resident.locator("input[name=password]").fill(city["password"])
    resident.locator("form[action='/signin'] button").click()
    expect(resident).to_have_url(re.compile(r"/me$"))
    _language(resident, url, lang, "/me/notices")
    before = resident.request.get(f"{url}/api/v1/me").json()["score"]
    resident.locator("input[name=email]").fill(f"resident-{lang}@example.org")
    resident.locator("select[name=language]").select_option(lang)
    resident.locator("form[action='/me/contact'] button").click()
    expect(resident.locator("#contact-h + p")).to_contain_text(f"resident-{lang}@example.org")

    # a department reports a negative record; the resident disputes it
    ref = f"LOOP-{lang.upper()}-{os.getpid()}"
    _report_record(city, number, ref)
    records = resident.request.get(f"{url}/api/v1/me").json()
    assert records["score"] == before - 3
    record = max(
        (r for r in records["records"] if r["metric"] == "failure_to_yield"),
        key=lambda r: r["id"],
    )
    resident.goto(f"{url}/me/records/{record['id']}")
    resident.locator("textarea[name=reason]").fill("I was abroad that week; my passport shows it.")
    resident.locator("form[action='/me/disputes'] button").click()
    expect(resident).to_have_url(re.compile(r"/me/disputes$"))
    (dispute,) = [
        d
        for d in resident.request.get(f"{url}/api/v1/me/disputes").json()
        if d["record_id"] == record["id"]
    ]
    mine = resident.locator(f"a[href='/me/records/{record['id']}']")
    row = resident.get_by_test_id("dispute-row").filter(has=mine)
    expect(row.get_by_test_id("dispute-state")).to_contain_text(text["open"])
    shot(resident, shots, f"loop-{lang}-filed")

    # the department sees the reason and the source reference, and rejects
    _sign_in_key(department, url, city["department_key"], lang, "/console")
    department.locator("[data-testid=console-dispute]", has_text=ref).locator("a").click()
    expect(department.get_by_test_id("resident-reason")).to_have_text(
        "I was abroad that week; my passport shows it."
    )
    expect(department.get_by_test_id("source-ref")).to_have_text(ref)
    department.locator("input[name=answer][value=reject]").check()
    department.locator("textarea[name=reason]").fill("The camera photo shows your car and you.")
    department.locator("form[action$='/answer'] button").click()
    expect(department.get_by_test_id("dispute-state")).to_contain_text(text["rejected"])
    shot(department, shots, f"loop-{lang}-rejected")

    # the resident reads the reason and appeals
    resident.goto(f"{url}/me/disputes")
    expect(row).to_contain_text("The camera photo shows your car and you.")
    row.locator("textarea[name=reason]").fill("The photo is of another car with a similar plate.")
    row.locator("form[action$='/appeal'] button").click()
    expect(row.get_by_test_id("dispute-state")).to_contain_text(text["appealed"])

    # the reviewer overturns
    _sign_in_key(reviewer, url, city["reviewer_key"], lang, "/review")
    reviewer.locator(
        f"[data-testid=appeal-row] a[href='/console/disputes/{dispute['id']}']"
    ).click()
    expect(reviewer.get_by_test_id("source-ref")).to_have_text(ref)
    reviewer.locator("input[name=decision][value=overturn]").check()
    reviewer.locator("textarea[name=reason]").fill("The plate in the photo is not the resident's.")
    reviewer.locator("form[action$='/review'] button").click()
    expect(reviewer.get_by_test_id("dispute-state")).to_contain_text(text["overturned"])
    shot(reviewer, shots, f"loop-{lang}-overturned")

    # the score is restored; the notices are in the inbox
    assert resident.request.get(f"{url}/api/v1/me").json()["score"] == before
    resident.goto(f"{url}/me/notices")
    kinds = resident.get_by_test_id("notice").evaluate_all(
        "nodes => nodes.map(n => n.dataset.kind)"
    )
    assert kinds[:4] == [
        "dispute.overturned",
        "dispute.appealed",
        "dispute.rejected",
        "dispute.filed",
    ]
    shot(resident, shots, f"loop-{lang}-notices")

    # and, once the delivery worker has run, in the SMTP server's mailbox
    env = {
        **os.environ,
        "OSMANTHUS_DATA_DIR": city["home"],
        "OSMANTHUS_DEMO_MODE": "true",
        "OSMANTHUS_POLICY_DIR": str(Path(city["home"]) / "policy"),
    }
    env.pop("OSMANTHUS_DATABASE_URL", None)
    with smtp_server() as (port, box):
        env.update({"OSMANTHUS_SMTP_HOST": "127.0.0.1", "OSMANTHUS_SMTP_PORT": str(port)})
        done = subprocess.run(
            [*CLI, "notices", "deliver", "--once"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        mine = [m for m in box.messages if m["To"] == f"resident-{lang}@example.org"]
    subjects = [" ".join(str(m["Subject"]).split()) for m in mine]
    assert len(subjects) >= 4, subjects  # filed, rejected, appealed, overturned (+ the record)
    assert any(text["filed subject"] in s for s in subjects), subjects
