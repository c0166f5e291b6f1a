"""The service behind a real reverse proxy (issue 20): Debian's nginx, running the
shipped deploy/nginx/osmanthus.conf (its ports, certificate and addresses replaced) with
a self-signed certificate, in front of ``osmanthus serve`` outside demo mode under the
path prefix /osmanthus; Chromium signs in over HTTPS.

Checked: the session cookie is Secure; links and redirects keep the prefix; the
client's address (127.0.0.1), not the proxy's (nginx binds 127.0.0.3 for its upstream
connections), reaches the sign-in throttle and the access log. nginx must be installed
(``python3 dev.py test`` installs it as root); a missing nginx fails, never skips.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from playwright.sync_api import expect, sync_playwright

from factories import OPERATOR, TEST_KEY, approve_policy, write_key
from osmanthus.ledger import Ledger, connect, migrate
from osmanthus.policy import PolicySet
from osmanthus.residents import set_password
from web_fixtures import ALICE, PASSWORD, free_port, wait_until_answering

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "deploy" / "nginx" / "osmanthus.conf"
NGINX = Path("/usr/sbin/nginx")
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
PROXY_ADDRESS = "127.0.0.3"
CLI = [sys.executable, "-m", "osmanthus"]


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "city.pem", folder / "city.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _nginx_conf(folder: Path, https_port: int, service_port: int) -> Path:
    """The shipped site, its example values replaced, in a minimal main configuration."""
    cert_file, key_file = _certificate(folder)
    site = SHIPPED.read_text(encoding="utf-8")
    replaced = {
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{service_port};",
        "/etc/ssl/certs/city.example.pem": str(cert_file),
        "/etc/ssl/private/city.example.key": str(key_file),
        "listen 80;": f"listen 127.0.0.1:{free_port()};",
        # test only: the proxy's own address differs from the browser's
        "proxy_http_version 1.1;": f"proxy_http_version 1.1;\n        proxy_bind {PROXY_ADDRESS};",
    }
    for old, new in replaced.items():
        assert old in site, f"{SHIPPED} no longer holds {old!r}"
        site = site.replace(old, new)
    conf = folder / "nginx.conf"
    temp = folder / "temp"
    temp.mkdir()
    conf.write_text(
        f"""daemon off;
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
{site}
}}
""",
        encoding="utf-8",
    )
    return conf


@pytest.fixture(scope="module")
def behind_proxy(
    tmp_path_factory: pytest.TempPathFactory, policy: PolicySet
) -> Iterator[dict[str, object]]:
    """One ledger, service and proxy for the module (the tests run in file order)."""
    tmp_path = tmp_path_factory.mktemp("proxy")
    if not NGINX.exists():
        pytest.fail(
            "nginx is missing at /usr/sbin/nginx: apt-get install -y --no-install-recommends "
            "nginx (python3 dev.py test installs it)",
            pytrace=False,
        )
    db_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = connect(db_url)
    migrate(engine)
    ledger = Ledger(engine, policy, TEST_KEY)
    ledger.record_key(str(OPERATOR))
    ledger.sync_departments(OPERATOR)
    approve_policy(ledger)
    ledger.register_resident(ALICE, "gusu", actor=OPERATOR)
    set_password(ledger, ALICE, PASSWORD, actor=OPERATOR)
    signing = write_key(tmp_path / "signing.pem")
    service_port, https_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSMANTHUS_")}
    env.update(
        OSMANTHUS_DATABASE_URL=db_url,
        OSMANTHUS_PSEUDONYM_KEY=TEST_KEY.decode(),
        OSMANTHUS_SIGNING_KEY_FILE=str(signing),
        OSMANTHUS_DATA_DIR=str(tmp_path / "var"),
        OSMANTHUS_ROOT_PATH="/osmanthus",
        OSMANTHUS_TRUSTED_PROXIES=PROXY_ADDRESS,
        OSMANTHUS_SIGNIN_REFUSALS_PER_ADDRESS="2",
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as log_file:
        service = subprocess.Popen(
            [*CLI, "serve", "--port", str(service_port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        conf = _nginx_conf(tmp_path, https_port, service_port)
        proxy = subprocess.Popen(
            [str(NGINX), "-p", str(tmp_path), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_answering(f"http://127.0.0.1:{service_port}/health", service)
            wait_until_answering(
                f"https://127.0.0.1:{https_port}/osmanthus/health", proxy, verify=False
            )
            yield {"url": f"https://127.0.0.1:{https_port}", "ledger": ledger, "log": log}
        finally:
            proxy.terminate()
            service.terminate()
            proxy.wait(timeout=20)
            service.wait(timeout=20)
            engine.dispose()


def test_sign_in_over_https_behind_nginx_under_a_path_prefix(
    behind_proxy: dict[str, object],
) -> None:
    url = str(behind_proxy["url"])
    ledger = behind_proxy["ledger"]
    assert isinstance(ledger, Ledger)
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing at /usr/bin/chromium", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = browser.new_context(ignore_https_errors=True, locale="en-US")
            page = context.new_page()
            page.goto(f"{url}/osmanthus/")  # redirected to the sign-in page, prefix kept
            expect(page).to_have_url(f"{url}/osmanthus/signin")
            page.fill("#national_id", ALICE)
            page.fill("#password", "a wrong password")
            page.click("#resident-signin ~ form button, form[action$='/signin'] button")
            expect(page.get_by_role("alert")).to_be_visible()
            page.fill("#national_id", ALICE)
            page.fill("#password", PASSWORD)
            page.click("form[action$='/signin'] button")
            expect(page).to_have_url(f"{url}/osmanthus/me")
            expect(page.locator("main")).to_contain_text("100")
            cookie = next(c for c in context.cookies() if c["name"] == "osmanthus_session")
            assert cookie["secure"] and cookie["httpOnly"]
            links = page.eval_on_selector_all("a[href], form[action]", _TARGETS)
            assert links and all(t.startswith("/osmanthus/") for t in links if t[:1] == "/"), links
            for static in page.eval_on_selector_all("link[href], script[src]", _SOURCES):
                assert static.startswith("/osmanthus/static/"), static
            page.click("a[href='/osmanthus/me/access']")  # a link, then the language switch
            expect(page).to_have_url(f"{url}/osmanthus/me/access")
            page.click("a[href^='/osmanthus/lang/zh']")
            expect(page).to_have_url(f"{url}/osmanthus/me/access")
            expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
        finally:
            browser.close()

    # the refused sign-in was counted against the browser's address, not nginx's
    with ledger.engine.connect() as conn:
        details = conn.execute(
            sa.text("SELECT detail FROM audit_log WHERE action = 'resident.sign_in_refused'")
        ).scalars()
        tags = [json.loads(d)["address"] for d in details]
    assert tags == [ledger.address_tag("127.0.0.1")]
    assert ledger.address_tag(PROXY_ADDRESS) not in tags
    lines = [
        json.loads(line)
        for line in Path(str(behind_proxy["log"])).read_text().splitlines()
        if line.startswith("{")
    ]
    through_proxy = [e for e in lines if e["route"] == "/me"]
    assert through_proxy and {e["client"] for e in through_proxy} == {"127.0.0.1"}


_TARGETS = "els => els.map(e => e.getAttribute('href') || e.getAttribute('action'))"
_SOURCES = "els => els.map(e => e.getAttribute('href') || e.getAttribute('src'))"


def test_a_forged_forwarded_address_is_replaced_by_the_proxy(
    behind_proxy: dict[str, object],
) -> None:
    """nginx sets X-Forwarded-For to the address it saw: a client naming other addresses
    still has its refusals counted as its own (the throttle answers 429 after two)."""
    url = str(behind_proxy["url"])
    codes = [
        httpx.post(
            f"{url}/osmanthus/signin",
            data={"national_id": ALICE, "password": "a wrong password"},
            headers={"X-Forwarded-For": f"203.0.113.{k}"},
            verify=False,
            timeout=5,
        ).status_code
        for k in range(1, 5)
    ]
    assert codes[-1] == 429, codes
