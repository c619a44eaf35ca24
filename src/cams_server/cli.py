"""The `cams-server` command."""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import click
import redis
from sqlalchemy.exc import OperationalError

from cams_server.cams.demo import DEMO_ACCOUNT_ID, apply_declared_world, settle_demo
from cams_server.cams.ingestion import RecordError, ingest_records, parse_records
from cams_server.cams.simulation import Funnel, TemplateMix
from cams_server.cams.simulation import simulate as simulate_traffic
from cams_server.cams.upstream import GRAPH_API_VERSION
from cams_server.gateway.protocol import HttpLimits
from cams_server.logs import configure_logging
from cams_server.model.world import World
from cams_server.ram.diagnostics import DiagnosticCodec
from cams_server.ram.directory import Directory
from cams_server.serving import ServeOptions, bind, ensure_descriptors
from cams_server.serving import serve as run_server
from cams_server.settings import ENVIRONMENT, ServerSettings, SettingsError
from cams_server.store.database import DIAGNOSTIC_KEY, Database
from cams_server.store.enablements import enablement_times, list_enablements
from cams_server.store.keyring import (
    MASTER_KEY_ENV,
    KeySource,
    MasterKey,
    SecretsError,
    shown,
)
from cams_server.store.private_files import StorageUnusable, private_directory
from cams_server.store.sealing import rotate_master_key
from cams_server.store.serve_lock import ServeLockBusy, take_serve_lock
from cams_server.store.statistics import IngestResult
from cams_server.store.world_repo import apply_world, load_world_from
from cams_server.tls import TlsFiles, ensure_self_signed
from cams_server.wire.untrusted import parse_json
from cams_server.world.toml_file import dump_world, load_world
from cams_server.world.validation import WorldError, policy_warnings

__all__ = ["main"]

DEFAULT_PORT = 18080
_LIMITS = HttpLimits()  # the defaults of serve's HTTP limit options

database_option = click.option(
    "--database",
    default=None,
    metavar="URL",
    help=f"SQLAlchemy URL of the database (env {ENVIRONMENT['database_url']}). "
    "Default: embedded SQLite at $CAMS_HOME/cams.db.",
)

master_key_option = click.option(
    "--master-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The file holding the master key that seals the secrets in the database. "
    f"Default: ${ENVIRONMENT['master_key']} (the key itself) when set, else "
    "$CAMS_HOME/master.key.",
)


def _settings(database: str | None, master_key_file: Path | None) -> ServerSettings:
    settings = ServerSettings.from_environment(
        database_url=database, master_key_file=master_key_file
    )
    private_directory(settings.home)
    return settings


def _open_database(url: str | None, master_key_file: Path | None) -> Database:
    settings = _settings(url, master_key_file)
    database = Database(settings.resolved_database_url, settings.key_source)
    try:
        database.migrate()
    except OperationalError as exc:
        database.dispose()
        reason = str(exc.orig or exc).splitlines()[0]
        _fail(f"cams-server: cannot open the database {database.url}: {reason}", code=1)
    return database


def _fail(message: str, code: int = 2) -> NoReturn:
    """One line (or a short list) on stderr and the exit status: 2 for a usage error
    (what was asked cannot be done as asked), 1 for a failure at run time."""
    click.echo(message, err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cams-server", prog_name="cams-server")
def cli() -> None:
    """A wire-compatible Alibaba Cloud CAMS (2020-06-06) ROI-metric API server.

    Point the official SDKs at it by changing only their endpoint (and protocol
    to http). State lives under $CAMS_HOME (default ~/.cams-server) unless
    --database says otherwise.
    """


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on; 0 takes a free one.",
)
@database_option
@click.option(
    "--redis",
    "redis_url",
    default=None,
    metavar="URL",
    help=f"Redis URL for shared nonces and flow-control windows (env {ENVIRONMENT['redis_url']}).",
)
@click.option(
    "--world",
    "world_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Apply this world file before serving.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Number of server processes sharing the port.",
)
@click.option(
    "--demo/--no-demo",
    default=None,
    help="Seed (or keep) the demo account, or remove it. Default: seed it into a database "
    "with no other account when no --world is given; remove it otherwise.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option(
    "--log-format",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json"]),
    help="json: one JSON object per line (request_id, action, principal, code, ...).",
)
@click.option(
    "--tls",
    "tls_mode",
    type=click.Choice(["self-signed"]),
    default=None,
    help="Serve HTTPS with a local CA and certificate made once under $CAMS_HOME/tls.",
)
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Serve HTTPS with this PEM certificate (chain).",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The PEM private key of --tls-cert.",
)
@click.option(
    "--graph-api-url",
    default=None,
    metavar="URL",
    help="Meta Graph API base URL: enabling also turns on a WABA's insights there "
    f"(env {ENVIRONMENT['graph_api_url']}).",
)
@click.option(
    "--graph-api-token",
    default=None,
    help=f"Access token for --graph-api-url (env {ENVIRONMENT['graph_api_token']}).",
)
@click.option(
    "--graph-api-version",
    default=None,
    help=f"Default: {GRAPH_API_VERSION} (env {ENVIRONMENT['graph_api_version']}).",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    metavar="IP",
    callback=lambda _ctx, _param, given: _ip_addresses(given),
    help="Honour X-Forwarded-For/-Proto from this proxy address or network (repeatable).",
)
@click.option(
    "--max-connections",
    default=_LIMITS.max_connections,
    show_default=True,
    type=click.IntRange(min=1),
    help="Open connections per process; one more is answered 503 and closed.",
)
@click.option(
    "--max-header-bytes",
    default=_LIMITS.max_head_bytes,
    show_default=True,
    type=click.IntRange(min=1024),
    help="Largest request line plus headers; a larger one is answered 431.",
)
@click.option(
    "--header-timeout",
    default=_LIMITS.head_timeout,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds a client has to send a request's line and headers (else 408).",
)
@click.option(
    "--body-timeout",
    default=_LIMITS.body_timeout,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds a client has to send a request's body after its headers (else 408).",
)
@click.option(
    "--send-timeout",
    default=_LIMITS.send_timeout,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds a client may leave an answer unread before its connection is dropped.",
)
@click.option(
    "--keep-alive-timeout",
    default=_LIMITS.keep_alive_timeout,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds an idle connection is kept open.",
)
@master_key_option
def serve(
    host: str,
    port: int,
    database: str | None,
    redis_url: str | None,
    world_file: Path | None,
    workers: int,
    demo: bool | None,
    log_level: str,
    log_format: str,
    tls_mode: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    graph_api_url: str | None,
    graph_api_token: str | None,
    graph_api_version: str | None,
    trusted_proxies: tuple[str, ...],
    max_connections: int,
    max_header_bytes: int,
    header_timeout: float,
    body_timeout: float,
    keep_alive_timeout: float,
    send_timeout: float,
    master_key_file: Path | None,
) -> None:
    """Start the API server."""
    configure_logging(log_level, log_format)
    limits = HttpLimits(
        max_head_bytes=max_header_bytes,
        head_timeout=header_timeout,
        body_timeout=body_timeout,
        keep_alive_timeout=keep_alive_timeout,
        send_timeout=send_timeout,
        max_connections=max_connections,
    )
    settings = _serve_settings(
        workers,
        limits,
        database_url=database,
        redis_url=redis_url,
        master_key_file=master_key_file,
        graph_api_url=graph_api_url,
        graph_api_token=graph_api_token,
        graph_api_version=graph_api_version,
    )
    tls = _tls_files(host, settings.home, tls_mode, tls_cert, tls_key)
    world_now = _prepare_database(settings, world_file, demo)
    if settings.admin_token is None and any(a.id == DEMO_ACCOUNT_ID for a in world_now.accounts):
        # The demo's console opens at once: a token for this run only, printed with the
        # demo's keys (a deployment of its own sets CAMS_ADMIN_TOKEN, or has no admin API).
        settings = replace(settings, admin_token=secrets.token_urlsafe(18))
    if settings.redis_url:
        _say_if_unreachable(settings.redis_url)
    try:
        sock = bind(host, port)
    except OSError as exc:
        _fail(f"cams-server: cannot listen on {host}:{port}: {exc.strerror}", code=1)
    options = ServeOptions(host, settings, workers, tls, trusted_proxies)
    run_server(options, sock, _announcer(tls, world_now, settings.admin_token))


def _say_if_unreachable(redis_url: str) -> None:
    """Say at start when Redis cannot be reached. The server starts all the same: it
    answers ServiceUnavailable per call until Redis answers (it fails closed)."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        click.echo(
            f"cams-server: Redis at {_without_password(redis_url)} is unreachable now "
            f"({type(exc).__name__}: {exc}); every call is answered ServiceUnavailable until "
            "it answers. Start Redis, or fix --redis.",
            err=True,
        )
    finally:
        client.close()


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(
        netloc=f"{parts.username or ''}:***@{parts.hostname}"
        + (f":{parts.port}" if parts.port else "")
    ).geturl()


def _ip_addresses(given: tuple[str, ...]) -> tuple[str, ...]:
    """The proxies given, each an address or a network (uvicorn would take anything else
    for a host name it never sees, and silently trust no one)."""
    for value in given:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise click.BadParameter(
                f"{value!r} is not an IP address: give the proxy's address, such as 10.0.0.2 "
                "(or a network, such as 10.0.0.0/24)"
            ) from None
    return given


def _serve_settings(workers: int, limits: HttpLimits, **given: Any) -> ServerSettings:
    """The flags over the environment over the defaults, and the refusals of settings
    that cannot work: a connection cap above the open-file limit, or several processes
    on PostgreSQL with per-process nonces and windows."""
    try:
        settings = ServerSettings.from_environment(http=limits, **given)
    except SettingsError as exc:
        _fail(f"cams-server: {exc}.")
    settings = replace(settings, shared_guard=workers > 1 and not settings.redis_url)
    problem = ensure_descriptors(settings.http)
    if problem is not None:
        _fail(f"cams-server: {problem}.")
    if (
        workers > 1
        and not settings.redis_url
        and settings.resolved_database_url.startswith("postgresql")
    ):
        _fail(
            "cams-server: --workers above 1 on PostgreSQL needs --redis for shared nonces and "
            "flow-control windows; refusing to start with silently per-process limits."
        )
    return settings


def _tls_files(
    host: str, home: Path, mode: str | None, cert: Path | None, key: Path | None
) -> TlsFiles | None:
    """The certificate and key to serve HTTPS with, if any (self-signed: made once)."""
    if (cert is None) != (key is None):
        _fail("cams-server: --tls-cert and --tls-key go together.")
    if cert is not None and key is not None:
        if mode is not None:
            _fail("cams-server: use either --tls self-signed or --tls-cert/--tls-key.")
        return TlsFiles(cert, key)
    if mode != "self-signed":
        return None
    hosts = tuple(dict.fromkeys((host, "127.0.0.1", "localhost", "::1")))
    hosts = tuple(h for h in hosts if h not in ("0.0.0.0", "::"))  # noqa: S104
    return ensure_self_signed(home, hosts)


def _prepare_database(
    settings: ServerSettings, world_file: Path | None, demo: bool | None
) -> World:
    """Migrate, apply the world file, settle the demo account, and take the serve lock
    once (then release it): failures are said now, once, not by every worker. Returns
    the world, for the banner."""
    private_directory(settings.home)
    try:
        db = Database(settings.resolved_database_url, settings.key_source)
        db.migrate()
    except (SecretsError, StorageUnusable):
        raise  # main() says what is wrong, in one line
    except Exception as exc:
        _fail(
            f"cams-server: cannot open the database {settings.resolved_database_url}: {exc}",
            code=1,
        )
    try:
        if world_file is not None:
            declared = load_world(world_file)
            apply_world(db, declared, str(world_file))
            for warning in policy_warnings(declared):
                logging.getLogger("cams_server").warning("%s: %s", world_file, warning)
        done = settle_demo(db, demo, world_file is not None, time.time())
    except WorldError as exc:
        _fail(str(exc))
    if done:
        click.echo(f"cams-server: {done}.", err=True)
    world_now = load_world_from(db)
    db.dispose()
    try:
        lock = take_serve_lock(db, settings.shared_guard, bool(settings.redis_url))
        if lock is not None:
            lock.release()
    except ServeLockBusy as exc:
        _fail(f"cams-server: {exc}.", code=1)
    finally:
        db.dispose()
    return world_now


def _announcer(
    tls: TlsFiles | None, world: World, admin_token: str | None
) -> Callable[[str], None]:
    """What the server prints once every process accepts connections."""

    def announce(url: str) -> None:
        print(f"cams-server listening on {url}", flush=True)
        if tls is not None and tls.ca is not None:
            print(
                f"TLS: trust the local CA with SSL_CERT_FILE={tls.ca} "
                "(or add it to your system's trust store).",
                flush=True,
            )
        banner = _banner(world, url, admin_token)
        if banner:
            print(banner, flush=True)

    return announce


def _banner(world: World, url: str, admin_token: str | None) -> str:
    spec = next((a for a in world.accounts if a.id == DEMO_ACCOUNT_ID), None)
    if spec is None or not spec.access_keys or not spec.spaces:
        return ""
    protocol, _, endpoint = url.partition("://")
    lines = ["", f"Demo world loaded (account 'demo', {DEMO_ACCOUNT_ID}):"]
    root = spec.access_keys[0]
    lines.append(f"  root AccessKey   {root.id} / {root.secret}")
    for user in spec.users:
        for key in user.access_keys:
            lines.append(f"  user {user.name:<12}{key.id} / {key.secret}")
    for role in spec.roles:
        arn = f"acs:ram::{spec.id}:role/{role.name}"
        lines.append(f"  role             {arn} (STS AssumeRole; serve --tls self-signed)")
    lines.append(f"  spaces           {', '.join(s.id for s in spec.spaces)}")
    lines.append(f"  API Explorer     {url}/explorer   (reference pages: {url}/docs/)")
    lines.append(f"  ROI console      {url}/console")
    if admin_token is not None:
        lines.append(f"  admin token      {admin_token}   (for the console and /_cams/)")
    lines += [
        "",
        "Call it with the official Python SDK (pip install alibabacloud-cams20200606):",
        "",
        "from alibabacloud_cams20200606.client import Client",
        "from alibabacloud_cams20200606.models import EnableWhatsappROIMetricRequest",
        "from alibabacloud_tea_openapi.models import Config",
        "",
        f"client = Client(Config(access_key_id={root.id!r}, access_key_secret={root.secret!r},",
        f"                       endpoint={endpoint!r}, protocol={protocol!r}))",
        "print(client.enable_whatsapp_roimetric(",
        f"    EnableWhatsappROIMetricRequest(cust_space_id={spec.spaces[0].id!r})).body)",
        "",
    ]
    return "\n".join(lines)


@cli.group()
def world() -> None:
    """Declare who exists (accounts, keys, RAM, spaces, ISV codes)."""


@world.command("apply")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@database_option
@master_key_option
def world_apply(file: Path, database: str | None, master_key_file: Path | None) -> None:
    """Create or update what FILE declares (idempotent; all or nothing)."""
    try:
        parsed = load_world(file)
        db = _open_database(database, master_key_file)
        demo = apply_declared_world(db, parsed, str(file))
    except WorldError as exc:
        _fail(str(exc))
    for warning in policy_warnings(parsed):  # valid but likely not what was meant
        click.echo(f"warning: {file}: {warning}", err=True)
    if demo:
        click.echo(f"cams-server: {demo}.", err=True)
    click.echo(f"applied {file}: {len(parsed.accounts)} account(s)")


@world.command("export")
@database_option
@master_key_option
def world_export(database: str | None, master_key_file: Path | None) -> None:
    """Print the current world as a TOML world file."""
    click.echo(dump_world(load_world_from(_open_database(database, master_key_file))), nl=False)


@cli.group()
def roi() -> None:
    """ROI-metric enablements."""


@roi.command("list")
@database_option
@master_key_option
def roi_list(database: str | None, master_key_file: Path | None) -> None:
    """One JSON object per line for each enablement."""
    for enablement in list_enablements(_open_database(database, master_key_file)):
        click.echo(json.dumps(enablement.to_json()))


@cli.group()
def events() -> None:
    """Message outcomes: sent-message records, statuses, clicks."""


@events.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@database_option
@master_key_option
def events_import(file: Path, database: str | None, master_key_file: Path | None) -> None:
    """Ingest FILE.jsonl: one record per line (sent, status, click or a webhook payload).

    All or nothing: a bad line is reported with its number and nothing is recorded.
    """
    records: list[object] = []
    line_of: list[int] = []  # record index -> line number in the file
    try:
        with file.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(parse_json(line))
                except ValueError as exc:
                    _fail(f"{file}:{number}: not valid JSON: {exc}")
                line_of.append(number)
    except UnicodeDecodeError:
        _fail(f"{file}: not UTF-8 text")
    db = _open_database(database, master_key_file)
    directory = Directory(load_world_from(db))
    try:
        messages, outcome_events = parse_records(records)
    except RecordError as exc:
        _fail_records(file, [_at_line(p, line_of) for p in exc.problems])
    undeclared = [
        f"line {line_of[i]}: space {r.get('space_id')!r} is not declared in the world"
        for i, r in enumerate(records)
        if isinstance(r, dict)
        and r.get("type") == "sent"
        and directory.space(str(r.get("space_id"))) is None
    ]
    if undeclared:
        _fail_records(file, undeclared)
    try:
        result = ingest_records(db, directory, messages, outcome_events)
    except RecordError as exc:
        _fail_records(file, exc.problems)
    click.echo(json.dumps(result.to_json()))


def _at_line(problem: str, line_of: list[int]) -> str:
    """'[3].status: ...' (a record index) -> 'line 5: .status: ...' (its line in the file)."""
    if problem.startswith("["):
        index, _, rest = problem[1:].partition("]")
        if index.isdigit() and int(index) < len(line_of):
            return f"line {line_of[int(index)]}: {rest.lstrip('.')}"
    return problem


def _fail_records(file: Path, problems: list[str]) -> NoReturn:
    listed = "\n".join(f"  {file}: {p}" for p in problems[:50])
    _fail(f"{file}: nothing was recorded:\n{listed}")


@cli.command()
@click.option("--space", "space_id", required=True, help="The space (CustSpaceId) to fill.")
@click.option(
    "--phone",
    "phone_number",
    default="8613800000000",
    show_default=True,
    help="The business phone number the messages go out from.",
)
@click.option("--messages", default=10_000, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--days",
    default=7,
    show_default=True,
    type=click.IntRange(min=1, max=90),
    help="Spread the sends over the last DAYS days.",
)
@click.option(
    "--template",
    "templates",
    multiple=True,
    default=("welcome:en", "promo:es"),
    show_default=True,
    help="CODE:LANGUAGE[:WEIGHT], repeatable.",
)
@click.option("--delivered-rate", default=0.92, show_default=True, type=click.FloatRange(0, 1))
@click.option("--read-rate", default=0.65, show_default=True, type=click.FloatRange(0, 1))
@click.option("--click-rate", default=0.12, show_default=True, type=click.FloatRange(0, 1))
@click.option("--price", default="0.0147", show_default=True, help="Cost of one message.")
@click.option("--seed", default=0, show_default=True, type=int)
@database_option
@master_key_option
def simulate(
    space_id: str,
    phone_number: str,
    messages: int,
    days: int,
    templates: tuple[str, ...],
    delivered_rate: float,
    read_rate: float,
    click_rate: float,
    price: str,
    seed: int,
    database: str | None,
    master_key_file: Path | None,
) -> None:
    """Produce realistic traffic for a space through the normal ingestion path."""
    mix: list[TemplateMix] = []
    for text in templates:
        parts = text.split(":")
        if len(parts) not in (2, 3) or not all(parts[:2]):
            _fail(f"--template {text!r}: expected CODE:LANGUAGE[:WEIGHT]")
        try:
            weight = float(parts[2]) if len(parts) == 3 else 1.0
        except ValueError:
            _fail(f"--template {text!r}: the weight must be a number")
        mix.append(TemplateMix(parts[0], parts[1], weight))
    try:
        funnel = Funnel(delivered_rate, read_rate, click_rate, Decimal(price))
    except InvalidOperation:
        _fail(f"--price {price!r} is not a number")
    db = _open_database(database, master_key_file)
    directory = Directory(load_world_from(db))
    if directory.space(space_id) is None:
        _fail(f"cams-server: space {space_id!r} is not declared in the world")
    now = int(time.time() * 1000)
    start = now - days * 86_400_000
    space = directory.space(space_id)
    assert space is not None
    enabled = enablement_times(db, space.account_id)
    since = [
        t
        for t in (enabled.get(space_id), None if space.is_isv_customer else enabled.get(None))
        if t is not None
    ]
    if not since:
        click.echo(
            f"cams-server: space {space_id} has not enabled ROI statistics: the traffic "
            "is recorded but not counted (enable it first).",
            err=True,
        )
    elif min(since) > start:
        start = min(since)  # messages sent before enabling would never count
    total = IngestResult()
    for batch, outcome_events in simulate_traffic(
        space_id, phone_number, mix, funnel, messages, start, now, seed
    ):
        result = ingest_records(db, directory, batch, outcome_events)
        for name in ("messages", "events", "duplicates", "counted", "not_counted", "pending"):
            setattr(total, name, getattr(total, name) + getattr(result, name))
    click.echo(json.dumps(total.to_json()))
    if total.messages == 0:
        _fail(
            f"cams-server: nothing was recorded: the {messages} messages of --seed {seed} on "
            f"space {space_id} were all recorded before (every one a duplicate). Give "
            "another --seed for new traffic.",
            code=1,
        )


@cli.group()
def ram() -> None:
    """RAM tools."""


@ram.command("decode-diagnostic")
@click.argument("message")
@database_option
@master_key_option
def ram_decode_diagnostic(message: str, database: str | None, master_key_file: Path | None) -> None:
    """Decode an AccessDeniedDetail.EncodedDiagnosticMessage of this deployment."""
    db = _open_database(database, master_key_file)
    try:
        decoded = DiagnosticCodec(db.secret_key(DIAGNOSTIC_KEY)).decode(message)
    except ValueError as exc:
        _fail(f"cams-server: cannot decode the message: {exc}")
    click.echo(json.dumps(decoded, indent=2, ensure_ascii=False))


@cli.group()
def keys() -> None:
    """The master key that seals the secrets in the database."""


@keys.command("rotate")
@database_option
@master_key_option
@click.option(
    "--new-master-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Take the new master key from this file (created with a fresh key if missing). "
    "Default: a fresh key, written over the current key file.",
)
@click.option(
    "--renew-server-keys",
    is_flag=True,
    help="Also replace the STS and diagnostic keys: every STS credential issued so far stops "
    "working as the servers restart (do this when an older copy of the database may hold "
    "them in clear).",
)
def keys_rotate(
    database: str | None,
    master_key_file: Path | None,
    new_master_key_file: Path | None,
    renew_server_keys: bool,
) -> None:
    """Re-seal every secret under a new master key, in one transaction.

    Running servers keep answering calls: they hold the world unsealed in memory, and
    read their key file again when the database names a key they do not hold. When the
    key comes from CAMS_MASTER_KEY, set it to the new key and restart the servers one
    at a time.
    """
    db = _open_database(database, master_key_file)
    assert db.vault is not None
    source = db.vault.source
    if new_master_key_file is not None:
        new = KeySource(path=new_master_key_file).read_or_create()
    elif source.is_file:
        new = MasterKey.generate()
    else:
        _fail(
            f"cams-server: the master key comes from {MASTER_KEY_ENV}, which this command "
            "cannot change: give --new-master-key-file PATH (created with a fresh key if "
            f"missing), then set {MASTER_KEY_ENV} to its content"
        )
    started = time.monotonic()
    count = rotate_master_key(db, new, renew_server_keys)
    took = time.monotonic() - started
    db.dispose()
    where = source.path if source.is_file else new_master_key_file
    click.echo(
        f"re-sealed {count} secret(s) under master key id {shown(new.key_id)} in {took:.2f} s; "
        f"the key is in {where}: back it up now (the old key no longer opens this database)"
    )
    if not source.is_file:
        click.echo(
            f"set {MASTER_KEY_ENV} to the content of {new_master_key_file} on every server and "
            "restart them one at a time; until then they keep answering calls but cannot "
            "load world changes"
        )


def main() -> None:
    try:
        cli(prog_name="cams-server")
    except (SecretsError, StorageUnusable) as exc:  # one line, no traceback
        click.echo(f"cams-server: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
