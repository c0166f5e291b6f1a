"""Early repair in a real browser, in English and in Chinese, against a real
``osmanthus serve``: a recent negative record shows the day repair becomes possible; for
an older one the resident applies with a statement and an evidence reference; the
department (its console) grants it; the record no longer counts and reads "repaired";
the notices are in the inbox."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import httpx2 as httpx
import pytest
from playwright.sync_api import Page, expect
from test_browser import browser, shot, shots  # noqa: F401  (fixtures)
from test_browser_due_process import _language, _sign_in_key, contexts  # noqa: F401

TEXT = {
    "en": {
        "from": "Early repair may be requested from",
        "open": "awaiting the department's decision",
        "granted": "granted: the record no longer counts",
        "repaired": "repaired early: no longer counts",
    },
    "zh": {
        "from": "起可申请提前信用修复",
        "open": "等待部门决定",
        "granted": "已准予：该记录不再计分",
        "repaired": "已提前修复，不再计分",
    },
}


def _report(city: dict[str, str], national_id: str, ref: str, days_ago: int) -> None:
    day = (dt.date.today() - dt.timedelta(days=days_ago)).isoformat()
    body = (
        "national_id,metric,act_date,decision_date,source_ref,value\n"
        f"{national_id},failure_to_yield,{day},{day},{ref},1\n"
    )
    response = httpx.post(
        f"{city['url']}/api/v1/batches",
        content=body.encode(),
        headers={"Authorization": f"Bearer {city['department_key']}", "Content-Type": "text/csv"},
        params={"batch_id": ref},
        timeout=30,
    )
    assert response.status_code in (200, 201), response.text
    assert response.json()["accepted"] == 1


def _record_id(page: Page, url: str, days_ago: int) -> int:
    """The newest failure-to-yield record acted ``days_ago`` days ago (the API shows no
    source references to residents)."""
    day = (dt.date.today() - dt.timedelta(days=days_ago)).isoformat()
    records = page.request.get(f"{url}/api/v1/me").json()["records"]
    found = [r for r in records if r["metric"] == "failure_to_yield" and r["act_date"] == day]
    return int(max(found, key=lambda r: r["id"])["id"])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_early_repair_in_the_browser(
    contexts: dict[str, Page],  # noqa: F811
    city: dict[str, str],
    shots: Path,  # noqa: F811
    lang: str,
) -> None:
    url, text = city["url"], TEXT[lang]
    resident, department = contexts["resident"], contexts["department"]
    number = city["resident_above"]
    recent, old = f"REP-NEW-{lang}-{os.getpid()}", f"REP-OLD-{lang}-{os.getpid()}"
    _report(city, number, recent, 2)
    _report(city, number, old, 120)

    resident.goto(f"{url}/signin")
    resident.locator("input[name=national_id]").fill(number)
    resident.locator("input[name=password]").fill(city["password"])
    resident.locator("form[action='/signin'] button").click()
    expect(resident).to_have_url(re.compile(r"/me$"))
    _language(resident, url, lang, "/me")
    before = resident.request.get(f"{url}/api/v1/me").json()["score"]

    # too recent: the page names the day, and offers no form
    resident.goto(f"{url}/me/records/{_record_id(resident, url, 2)}")
    expect(resident.get_by_test_id("repair-from")).to_contain_text(text["from"])
    expect(resident.locator("form[action='/me/repairs']")).to_have_count(0)

    # old enough: the resident applies
    record = _record_id(resident, url, 120)
    resident.goto(f"{url}/me/records/{record}")
    resident.locator("textarea[name=statement]").fill("I paid the fine and took the course.")
    resident.locator("input[name=evidence_ref]").fill("course certificate RS-2026-0042")
    resident.locator("form[action='/me/repairs'] button").click()
    expect(resident).to_have_url(re.compile(r"/me/disputes$"))
    row = resident.get_by_test_id("dispute-row").filter(
        has=resident.locator(f"a[href='/me/records/{record}']")
    )
    expect(row.get_by_test_id("dispute-state")).to_contain_text(text["open"])
    shot(resident, shots, f"repair-{lang}-applied")

    # the department reads the statement and the evidence, and grants it
    _sign_in_key(department, url, city["department_key"], lang, "/console")
    department.locator("[data-testid=console-dispute]", has_text=old).locator("a").click()
    expect(department.get_by_test_id("resident-reason")).to_have_text(
        "I paid the fine and took the course."
    )
    expect(department.get_by_test_id("evidence-ref")).to_contain_text("RS-2026-0042")
    department.locator("input[name=answer][value=uphold]").check()
    department.locator("textarea[name=reason]").fill("The course certificate is valid.")
    department.locator("form[action$='/answer'] button").click()
    expect(department.get_by_test_id("dispute-state")).to_contain_text(text["granted"])
    shot(department, shots, f"repair-{lang}-granted")

    # the record no longer counts: 3 points back
    assert resident.request.get(f"{url}/api/v1/me").json()["score"] == before + 3
    resident.goto(f"{url}/me/records/{record}")
    expect(resident.locator("dl.facts")).to_contain_text(text["repaired"])
    expect(resident.get_by_test_id("repair-status")).to_contain_text(text["granted"])
    resident.goto(f"{url}/me/notices")
    kinds = resident.get_by_test_id("notice").evaluate_all(
        "nodes => nodes.map(n => n.dataset.kind)"
    )
    assert kinds[:2] == ["repair.upheld", "repair.filed"]
    shot(resident, shots, f"repair-{lang}-record")
