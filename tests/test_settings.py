import pytest

from osmanthus.errors import ConfigError
from osmanthus.settings import DEMO_PSEUDONYM_KEY, get_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OSMANTHUS_PSEUDONYM_KEY", "OSMANTHUS_DEMO_MODE", "OSMANTHUS_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_demo_key_is_refused_outside_demo_mode() -> None:
    with pytest.raises(ConfigError, match="is the public demo key"):
        get_settings(pseudonym_key=DEMO_PSEUDONYM_KEY)


def test_a_key_is_required_outside_demo_mode() -> None:
    with pytest.raises(ConfigError, match="'pseudonym_key' is required"):
        get_settings()


def test_short_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 32 characters, found 5"):
        get_settings(pseudonym_key="short")


def test_demo_mode_uses_the_demo_key_and_database() -> None:
    settings = get_settings(demo_mode=True)
    assert settings.key_bytes == DEMO_PSEUDONYM_KEY.encode()
    assert settings.resolved_database_url.endswith("var/demo.db")


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSMANTHUS_PSEUDONYM_KEY", "k" * 40)
    monkeypatch.setenv("OSMANTHUS_DATABASE_URL", "postgresql+psycopg://db/city")
    settings = get_settings()
    assert settings.resolved_database_url == "postgresql+psycopg://db/city"
    assert settings.key_bytes == b"k" * 40


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ConfigError, match="'timezone' 'Mars/Olympus' is not a known"):
        get_settings(demo_mode=True, timezone="Mars/Olympus")
