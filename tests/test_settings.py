"""Settings: a value given wins over the environment, which wins over the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from cams_server.cams.upstream import GRAPH_API_VERSION, GraphApi
from cams_server.settings import ENVIRONMENT, ServerSettings, SettingsError, default_home


def test_defaults_read_nothing() -> None:
    settings = ServerSettings.from_environment({})
    assert settings.home == default_home()
    assert (settings.database_url, settings.redis_url, settings.graph) == (None, None, None)
    assert settings.resolved_database_url == f"sqlite:///{default_home() / 'cams.db'}"


def test_the_environment_stands_in_for_flags(tmp_path: Path) -> None:
    environ = {
        "CAMS_HOME": str(tmp_path),
        "CAMS_REDIS_URL": "redis://r:6379/0",
        "CAMS_ADMIN_TOKEN": "t",
        "CAMS_GRAPH_API_URL": "https://graph.example",
        "CAMS_GRAPH_API_TOKEN": "g",
        "CAMS_GRAPH_API_BACKOFF_SECONDS": "0.5",
    }
    settings = ServerSettings.from_environment(environ)
    assert settings.home == tmp_path
    assert settings.redis_url == "redis://r:6379/0"
    assert settings.admin_token == "t"
    assert settings.graph == GraphApi("https://graph.example", "g", backoff_seconds=0.5)
    assert settings.graph.version == GRAPH_API_VERSION


def test_a_given_value_wins_and_none_means_not_given() -> None:
    environ = {"CAMS_REDIS_URL": "redis://env", "CAMS_DATABASE_URL": "postgresql://env/db"}
    settings = ServerSettings.from_environment(environ, redis_url="redis://flag", database_url=None)
    assert settings.redis_url == "redis://flag"
    assert settings.database_url == "postgresql://env/db"


def test_graph_url_and_token_go_together() -> None:
    with pytest.raises(SettingsError, match="go together"):
        ServerSettings.from_environment({"CAMS_GRAPH_API_URL": "https://graph.example"})


@pytest.mark.parametrize("value", ["soon", "0", "-1"])
def test_graph_seconds_are_positive_numbers(value: str) -> None:
    environ = {
        "CAMS_GRAPH_API_URL": "https://g",
        "CAMS_GRAPH_API_TOKEN": "t",
        "CAMS_GRAPH_API_LEASE_SECONDS": value,
    }
    with pytest.raises(SettingsError, match="CAMS_GRAPH_API_LEASE_SECONDS"):
        ServerSettings.from_environment(environ)


def test_the_master_key_of_the_settings_is_the_only_one_read(tmp_path: Path) -> None:
    """CAMS_MASTER_KEY is read by `from_environment`, never behind the settings' back."""
    explicit = ServerSettings(home=tmp_path)
    assert explicit.key_source.path == tmp_path / "master.key"
    given = ServerSettings.from_environment({ENVIRONMENT["master_key"]: "k", "CAMS_HOME": "/x"})
    assert given.key_source.text == "k"


def test_secrets_stay_out_of_the_repr() -> None:
    settings = ServerSettings(admin_token="a-secret", master_key="k", whatsapp_app_secret="w")
    assert "a-secret" not in repr(settings) and "'k'" not in repr(settings)
