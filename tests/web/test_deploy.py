"""The deployment files under deploy/ (docs/deployment.md) hold together: the systemd
units pass ``systemd-analyze verify``, every metric the alert rules name is one the
service exports, and every setting the example environment file sets exists."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from osmanthus.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    """Checked as installed (this checkout's osmanthus in place of /opt/osmanthus, root in
    place of the osmanthus user): any warning fails, not only errors."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing (Debian package systemd)", pytrace=False)
    osmanthus = Path(sys.executable).with_name("osmanthus")
    units = sorted((DEPLOY / "systemd").iterdir())
    assert {u.name for u in units} >= {
        "osmanthus-web.service",
        "osmanthus-notices.service",
        "osmanthus-population.service",
        "osmanthus-population.timer",
        "osmanthus-backup.service",
        "osmanthus-backup.timer",
    }
    for unit in units:
        text = unit.read_text(encoding="utf-8")
        text = text.replace("/opt/osmanthus/.venv/bin/osmanthus", str(osmanthus))
        text = re.sub(r"^(User|Group)=osmanthus$", r"\1=root", text, flags=re.M)
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    done = subprocess.run(
        [analyze, "verify", "--man=no", *(str(tmp_path / u.name) for u in units)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_every_metric_in_the_alert_rules_is_exported(client: TestClient) -> None:
    client.get("/health")
    client.post("/api/v1/eligibility", json={})  # a latency histogram of that route
    scraped = client.get("/metrics").text
    exported = set(re.findall(r"^(osmanthus_\w+?)(?:\{| )", scraped, re.M))
    rules = yaml.safe_load((DEPLOY / "prometheus" / "osmanthus-alerts.yml").read_text())
    named = {
        name
        for group in rules["groups"]
        for rule in group["rules"]
        for name in re.findall(r"\b(osmanthus_\w+)", rule["expr"])
    }
    assert named and named <= exported, named - exported


def test_the_example_environment_sets_only_real_settings() -> None:
    text = (DEPLOY / "osmanthus.env.example").read_text(encoding="utf-8")
    names = re.findall(r"^#?OSMANTHUS_(\w+)=", text, re.M)
    fields = {name.upper() for name in Settings.model_fields}
    assert names and set(names) <= fields, set(names) - fields
