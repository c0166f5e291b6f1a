"""The pages in a real browser: Debian's Chromium driven by Playwright, against
``osmanthus serve`` running as a real process on a small demo city.

Chromium must be installed (``python3 dev.py test`` installs it as root); a missing
browser fails these tests, it never skips them. Screenshots go to
``$OSMANTHUS_SCREENSHOTS`` (default: the test's temporary folder) so that a person can
look at them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CLI = [sys.executable, "-m", "osmanthus"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            "Chromium is missing at /usr/bin/chromium: apt-get install -y chromium "
            "(python3 dev.py test installs it)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        found = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield found
        found.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # bypass_csp: axe-core is injected as an inline script, which the pages' CSP refuses
    # (test_the_pages_keep_their_content_security_policy... runs with the CSP on)
    context = browser.new_context(
        locale="en-US", viewport={"width": 1100, "height": 900}, bypass_csp=True
    )
    found = context.new_page()
    yield found
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("OSMANTHUS_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


AXE = Path(sys.prefix) / "test-assets" / "axe.min.js"  # fetched by dev.py from npm


def accessible(page: Page) -> None:
    """axe-core's WCAG 2 A and AA rules find no serious or critical problem on the page."""
    assert AXE.is_file(), f"{AXE} is missing: run python3 dev.py setup"
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length,"
        " first: v.nodes[0] && v.nodes[0].html}))"
    )
    serious = [v for v in found if v["impact"] in ("serious", "critical")]
    assert not serious, f"{page.url}: {serious}"


def shot(page: Page, shots: Path, name: str) -> None:
    """Check the page's accessibility, then keep a screenshot for a person to look at."""
    accessible(page)
    path = shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000  # a blank page is a few hundred bytes


def sign_in_resident(page: Page, city: dict[str, str], band: str = "below") -> None:
    page.goto(f"{city['url']}/signin")
    page.get_by_label("ID number").fill(city[f"resident_{band}"])
    page.get_by_label("Password").fill(city["password"])
    page.locator("form[action='/signin'] button").click()
    expect(page).to_have_url(re.compile(r"/me$"))


def sign_in_key(page: Page, city: dict[str, str], role: str) -> None:
    page.goto(f"{city['url']}/signin")
    page.get_by_label("API key").fill(city[f"{role}_key"])
    page.locator("form[action='/signin/key'] button").click()


def test_a_resident_sees_the_score_opens_the_legal_basis_and_files_a_dispute(
    page: Page, city: dict[str, str], shots: Path
) -> None:
    sign_in_resident(page, city)
    score = page.get_by_test_id("score").inner_text()
    api = page.request.get(f"{city['url']}/api/v1/me").json()
    assert int(score) == api["score"] < 100
    shot(page, shots, "resident-score")
    counting = next(r for r in api["records"] if r["counted"] != 0)
    page.locator(f"a[href='/me/records/{counting['id']}']").click()
    expect(page.get_by_test_id("legal-basis")).to_have_text(counting["legal_basis"])
    page.get_by_label("Why is this record wrong?").fill(
        "I was abroad on that date; see my passport."
    )
    page.get_by_role("button", name="File a dispute").click()
    expect(page).to_have_url(re.compile(r"/me/disputes$"))
    row = page.get_by_test_id("dispute-row").first
    expect(row).to_contain_text("awaiting the department's answer")
    shot(page, shots, "resident-dispute")
    page.get_by_role("link", name="Who read my data").click()
    expect(page.get_by_test_id("access-row").first).to_be_visible()
    page.get_by_role("link", name="Expiry calendar").click()
    shot(page, shots, "resident-calendar")


def test_signing_in_works_from_the_keyboard_alone(
    page: Page, city: dict[str, str], shots: Path
) -> None:
    page.goto(f"{city['url']}/signin")
    page.keyboard.press("Tab")  # the skip link comes first
    expect(page.locator(".skip")).to_be_focused()
    page.get_by_label("ID number").focus()
    page.keyboard.type(city["resident_at"])
    page.keyboard.press("Tab")
    page.keyboard.type(city["password"])
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/me$"))
    shot(page, shots, "signin-keyboard")


def test_a_resident_downloads_and_verifies_a_report_and_shows_a_proof(
    page: Page, city: dict[str, str], shots: Path, tmp_path: Path
) -> None:
    sign_in_resident(page, city, "above")
    page.get_by_role("link", name="Credit report").click()
    shot(page, shots, "resident-report")
    with page.expect_download() as download:
        page.get_by_test_id("report-download").click()
    saved = tmp_path / "report.json"
    download.value.save_as(saved)
    env = {**os.environ, "OSMANTHUS_DATA_DIR": city["home"]}
    verified = subprocess.run(
        [*CLI, "--demo", "verify", str(saved)], env=env, capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert page.get_by_test_id("report-score").inner_text() in verified.stdout
    page.get_by_role("link", name="My score").click()
    page.get_by_role("link", name="show a proof").first.click()
    page.get_by_label("ID number").fill(city["resident_above"])
    page.get_by_role("button", name="Make the proof").click()
    qr = page.get_by_test_id("proof-qr").locator("svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 150  # scannable from a phone screen
    shot(page, shots, "resident-proof")


def test_the_pages_switch_to_chinese(page: Page, city: dict[str, str], shots: Path) -> None:
    sign_in_resident(page, city, "above")
    page.get_by_role("link", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.get_by_role("heading", level=1)).to_have_text("我的积分")
    shot(page, shots, "resident-score-zh")


def test_a_kiosk_session_is_large(page: Page, city: dict[str, str], shots: Path) -> None:
    page.goto(f"{city['url']}/signin?kiosk=true")
    page.get_by_label("ID number").fill(city["resident_at"])
    page.get_by_label("Password").fill(city["password"])
    page.locator("form[action='/signin'] button").click()
    expect(page.locator("body")).to_have_class("kiosk")
    box = page.get_by_role("button", name="Sign out").bounding_box()
    assert box is not None and box["height"] >= 64  # a finger's target
    shot(page, shots, "kiosk")


def test_a_department_uploads_a_batch_and_reads_its_report(
    page: Page, city: dict[str, str], shots: Path
) -> None:
    sign_in_key(page, city, "department")
    expect(page).to_have_url(re.compile(r"/console$"))
    page.get_by_label("Batch file").set_input_files(str(Path(city["home"]) / "demo-batch.csv"))
    page.get_by_label("Accept the valid rows").check()
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_test_id("batch-status")).to_have_text("partial")
    assert int(page.get_by_test_id("batch-refused").inner_text()) == 2
    expect(page.get_by_test_id("problem-row").first).to_be_visible()
    shot(page, shots, "department-batch")


def test_a_provider_checks_eligibility(page: Page, city: dict[str, str], shots: Path) -> None:
    sign_in_key(page, city, "provider")
    expect(page).to_have_url(re.compile(r"/provider$"))
    for band in ("above", "below"):
        number = city[f"resident_{band}"]
        truth = httpx.post(
            f"{city['url']}/api/v1/eligibility",
            json={
                "national_id": number,
                "perk": "civilization_loan",
                "purpose": "loan_application",
            },
            headers={"Authorization": f"Bearer {city['provider_key']}"},
        ).json()
        page.get_by_label("Resident's ID number").fill(number)
        page.get_by_label("Perk").select_option("civilization_loan")
        page.get_by_label("Purpose of this check").select_option("loan_application")
        page.get_by_role("button", name="Check").click()
        answer = page.get_by_test_id("eligibility-answer")
        if truth["eligible"]:
            expect(answer).to_contain_text(f"Eligible until {truth['valid_until']}")
        else:
            expect(answer).to_have_text("Not eligible.")
        assert band == "above" or not truth["eligible"]  # below 100: no loan
        assert "score" not in answer.inner_text().lower()
        shot(page, shots, f"provider-check-{band}")


def test_an_auditor_sees_the_distribution_chart(
    page: Page, city: dict[str, str], shots: Path
) -> None:
    sign_in_key(page, city, "auditor")
    expect(page).to_have_url(re.compile(r"/oversight$"))
    chart = page.get_by_test_id("distribution-chart").locator("svg")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    bars = chart.locator("rect.bar")
    assert bars.count() >= 5
    heights = [float(bars.nth(i).get_attribute("height") or 0) for i in range(bars.count())]
    assert max(heights) > 100 and min(heights) > 0
    total = sum(
        int(page.get_by_test_id(b).inner_text().replace(",", "")) for b in ("above", "at", "below")
    )
    assert total == 2000
    page.get_by_role("button", name="Verify the whole chain now").click()
    expect(page.get_by_test_id("chain-status")).to_contain_text("verifies")
    shot(page, shots, "oversight")


def test_a_policy_is_proposed_reported_on_and_approved_by_a_second_person(
    page: Page, city: dict[str, str], shots: Path
) -> None:
    sign_in_key(page, city, "operator")
    page.goto(f"{city['url']}/policy")
    page.get_by_role("button", name="Propose it").click()
    expect(page).to_have_url(re.compile(r"/policy/\d+$"))
    expect(page.get_by_test_id("validation")).to_contain_text("Passed: the charter")
    expect(page.get_by_test_id("impact-summary")).to_contain_text("residents' scores change")
    expect(page.get_by_test_id("impact-perk").first).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)  # an operator
    shot(page, shots, "policy-proposal")
    proposal = page.url
    page.get_by_role("button", name="Sign out").click()
    sign_in_key(page, city, "policy-approver")
    expect(page).to_have_url(re.compile(r"/policy$"))
    page.goto(proposal)
    expect(page.get_by_test_id("proposal-status")).to_have_text("open")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("proposal-status")).to_have_text("approved")
    shot(page, shots, "policy-approved")
    page.get_by_role("button", name="Sign out").click()
    page.goto(f"{city['url']}/transparency")
    expect(page.get_by_test_id("approved-policy")).to_have_count(2)
    shot(page, shots, "transparency")


def test_the_pages_keep_their_content_security_policy_and_the_docs_are_ours(
    browser: Browser, city: dict[str, str]
) -> None:
    """In Chromium, with the CSP enforced: no page breaks it (no inline script or style
    is blocked), no request leaves our server, and /docs renders Swagger UI from our own
    assets."""
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    sign_in_resident(page, city)
    for path in ("/me/report", "/me/disputes", "/me/notices", "/me/calendar", "/me/access"):
        page.goto(f"{city['url']}{path}")
    page.goto(f"{city['url']}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Osmanthus")
    assert violations == []
    foreign = [u for u in requests if not u.startswith(city["url"]) and not u.startswith("data:")]
    assert foreign == []
    context.close()
