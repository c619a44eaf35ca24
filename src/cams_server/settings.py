"""The settings of one server: every default named once, and the one map from the environment.

`ServerSettings` holds plain values and reads nothing. `ServerSettings.from_environment`
is the one reader of the `CAMS_*` variables: a value given (a command-line flag) wins over
the environment, which wins over the default. `cams-server serve` builds its settings
this way, and so does `build_app()` for an ASGI server of one's choice; `CamsServer`
builds them from its arguments alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from cams_server.cams.upstream import GraphApi
from cams_server.clock import Clock, SystemClock
from cams_server.gateway.nonces import QuotaLimits
from cams_server.gateway.protocol import HttpLimits
from cams_server.store.database import default_database_url
from cams_server.store.keyring import MASTER_KEY_ENV, KeySource, key_source

__all__ = ["ENVIRONMENT", "ServerSettings", "SettingsError", "default_home"]

# Settings (and Graph API parts) -> the environment variable that stands in for them.
ENVIRONMENT: Mapping[str, str] = MappingProxyType(
    {
        "home": "CAMS_HOME",
        "database_url": "CAMS_DATABASE_URL",
        "redis_url": "CAMS_REDIS_URL",
        "admin_token": "CAMS_ADMIN_TOKEN",
        "whatsapp_app_secret": "CAMS_WHATSAPP_APP_SECRET",
        "whatsapp_verify_token": "CAMS_WHATSAPP_VERIFY_TOKEN",
        "master_key": MASTER_KEY_ENV,
        "graph_api_url": "CAMS_GRAPH_API_URL",
        "graph_api_token": "CAMS_GRAPH_API_TOKEN",
        "graph_api_version": "CAMS_GRAPH_API_VERSION",
        "graph_api_lease_seconds": "CAMS_GRAPH_API_LEASE_SECONDS",
        "graph_api_backoff_seconds": "CAMS_GRAPH_API_BACKOFF_SECONDS",
    }
)
_GRAPH = {
    "graph_api_version": "version",
    "graph_api_lease_seconds": "lease_seconds",
    "graph_api_backoff_seconds": "backoff_seconds",
}


class SettingsError(ValueError):
    """Settings that cannot work together, said the way an operator fixes them."""


def default_home() -> Path:
    return Path.home() / ".cams-server"


@dataclass(frozen=True)
class ServerSettings:
    database_url: str | None = None  # None: embedded SQLite at <home>/cams.db
    home: Path = field(default_factory=default_home)
    clock: Clock = field(default_factory=SystemClock)
    # How often the stored world is checked for changes made elsewhere.
    world_refresh_seconds: float = 0.5
    admin_token: str | None = field(default=None, repr=False)
    # Where nonces and flow windows live: Redis when set; else the SQLite file when
    # `shared_guard` (several processes of one host); else this process's memory.
    redis_url: str | None = None
    shared_guard: bool = False
    # The WhatsApp webhook: the Meta app secret that signs deliveries, and the token of
    # the verification handshake.
    whatsapp_app_secret: str | None = field(default=None, repr=False)
    whatsapp_verify_token: str | None = field(default=None, repr=False)
    # Nonces one AccessKey and one account may keep a minute (gateway/nonces.py).
    nonce_quota: QuotaLimits = field(default_factory=QuotaLimits)
    # The HTTP limits of each connection (gateway/protocol.py).
    http: HttpLimits = field(default_factory=HttpLimits)
    # Meta's Graph API, where enabling also turns on a WABA's insights (None: local only).
    graph: GraphApi | None = None
    # The master key that seals the database's secrets: a file, or the key itself;
    # neither: <home>/master.key (store/keyring.py says the precedence).
    master_key_file: Path | None = None
    master_key: str | None = field(default=None, repr=False)
    # Where the workers of one `serve --workers N` count their metrics together (set by
    # `serve`; None: this process counts alone).
    metrics_directory: Path | None = None

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or default_database_url(self.home)

    @property
    def key_source(self) -> KeySource:
        given = {} if self.master_key is None else {MASTER_KEY_ENV: self.master_key}
        return key_source(self.home, self.master_key_file, given)

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, **given: Any
    ) -> ServerSettings:
        """Settings from `given` (None meaning not given), else `environ` (default: this
        process's), else the defaults. The Graph API is given as `graph_api_url`,
        `graph_api_token` and the other `graph_api_*` names of `ENVIRONMENT`."""
        environ = os.environ if environ is None else environ
        values = {k: v for k, v in given.items() if v is not None}
        for name, variable in ENVIRONMENT.items():
            if name not in values and environ.get(variable):
                values[name] = environ[variable]
        graph = {k: values.pop(k) for k in list(values) if k.startswith("graph_api_")}
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        if "home" in values:
            values["home"] = Path(values["home"])
        if "redis_url" in values:
            _check_url("--redis", "redis_url", values["redis_url"], _REDIS_SCHEMES)
        return cls(graph=_graph_api(graph), **values)


_REDIS_SCHEMES = ("redis://HOST:6379/0", "rediss://HOST:6380/0", "unix:///PATH/redis.sock")
_GRAPH_SCHEMES = ("https://graph.facebook.com", "http://HOST:PORT")


def _check_url(flag: str, name: str, url: str, examples: tuple[str, ...]) -> None:
    """Refuse a URL the server could only fail on later, naming its flag and variable."""
    parsed = urlsplit(url)
    schemes = [example.split("://")[0] for example in examples]
    if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
        raise SettingsError(
            f"{flag} {url!r} is not a URL the server can use: give one such as "
            f"{' or '.join(examples)} ({ENVIRONMENT[name]})"
        )


def _graph_api(given: Mapping[str, Any]) -> GraphApi | None:
    url, token = given.get("graph_api_url"), given.get("graph_api_token")
    if bool(url) != bool(token):
        raise SettingsError(
            "--graph-api-url and --graph-api-token go together "
            f"({ENVIRONMENT['graph_api_url']} and {ENVIRONMENT['graph_api_token']})"
        )
    if not url or not token:
        return None
    _check_url("--graph-api-url", "graph_api_url", str(url), _GRAPH_SCHEMES)
    options: dict[str, Any] = {}
    for name, part in _GRAPH.items():
        if name in given:
            value = given[name]
            options[part] = value if part == "version" else _seconds(name, value)
    return GraphApi(str(url), str(token), **options)


def _seconds(name: str, value: Any) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise SettingsError(f"{ENVIRONMENT[name]} must be a number of seconds") from None
    if not seconds > 0:
        raise SettingsError(f"{ENVIRONMENT[name]} must be above 0 seconds")
    return seconds
