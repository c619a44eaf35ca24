"""Enabling also turns on Meta's template insights upstream, through a durable outbox.

A stand-in Graph API (http.server on a free port of 127.0.0.1, no external network)
records every request and answers as told: 200, a transient 5xx/429, a permanent
4xx, or not at all until released. The server's state of each delivery is read the
way an operator sees it: `cams-server roi list` (and `CamsServer.enablements()`,
which prints the same objects).
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from cams_server import server as server_module
from cams_server.cams.upstream import GraphApi, UpstreamWorker
from cams_server.cli import cli
from cams_server.testing import CamsServer
from tests.sdk.clients import enable, v3_client

ACME = "1000000000000001"
MAIN = "cams-acme-main"
CUST1 = "cams-acme-cust-1"
WABA = "102290129340398"
GRAPH_TOKEN = "EAAJB-graph-token-for-tests"
WABA_PATH = f"/v21.0/{WABA}"

# Thread-mode workers poll the outbox every 50 ms (see _quick_worker); QUIET is time
# enough for several polls, so a stray extra delivery would show.
POLL = 0.05
QUIET = 0.4

OK_BODY: dict[str, Any] = {"id": WABA}
TRANSIENT_BODY: dict[str, Any] = {
    "error": {
        "message": "An unexpected error has occurred. Please retry your request later.",
        "type": "OAuthException",
        "is_transient": True,
        "code": 2,
        "fbtrace_id": "AbCdEfGh123",
    }
}
PERMANENT_BODY: dict[str, Any] = {
    "error": {
        "message": "(#100) Param is_enabled_for_insights is not allowed for this WABA",
        "type": "OAuthException",
        "code": 100,
        "fbtrace_id": "AbCdEfGh456",
    }
}


# -- the stand-in Graph API -------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    answered: int | None = None  # the status actually written back, if any


@dataclass
class StandIn:
    """Answers each request with the next scripted behaviour, then `default`.

    Behaviours: an HTTP status (int); "hang" (wait for `release`, then 200); "drop"
    (wait for `release`, then close the connection without answering); ("hang", status)
    (wait for `release`, then answer `status`).
    """

    script: list[int | str | tuple[str, int]] = field(default_factory=list)
    default: int = 200
    requests: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def answered(self, status: int = 200) -> list[Seen]:
        with self.lock:
            return [r for r in self.requests if r.answered == status]

    def count(self) -> int:
        with self.lock:
            return len(self.requests)


def _handler(stand_in: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            parts = urlsplit(self.path)
            seen = Seen(
                "POST",
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
            )
            with stand_in.lock:
                stand_in.requests.append(seen)
                behaviour = stand_in.script.pop(0) if stand_in.script else stand_in.default
            if isinstance(behaviour, tuple):
                stand_in.release.wait(30)
                behaviour = behaviour[1]
            elif behaviour in ("hang", "drop"):
                stand_in.release.wait(30)
                if behaviour == "drop":
                    self.close_connection = True
                    return
                behaviour = 200
            assert isinstance(behaviour, int)
            body: dict[str, Any]
            if behaviour == 200:
                body = OK_BODY
            elif behaviour >= 500 or behaviour == 429:
                body = TRANSIENT_BODY
            else:
                body = PERMANENT_BODY
            payload = json.dumps(body).encode()
            try:
                self.send_response(behaviour)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()
            except OSError:
                return
            with stand_in.lock:
                seen.answered = behaviour

    return Handler


@pytest.fixture(autouse=True)
def _quick_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thread-mode servers poll the outbox every POLL seconds rather than 0.5 s."""
    monkeypatch.setattr(
        server_module, "UpstreamWorker", functools.partial(UpstreamWorker, poll_seconds=POLL)
    )


@pytest.fixture
def graph() -> Iterator[StandIn]:
    stand_in = StandIn()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stand_in))
    httpd.daemon_threads = True
    stand_in.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, name="graph-stand-in", daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        stand_in.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


# -- helpers --------------------------------------------------------------------------


def graph_api(stand_in: StandIn, **kwargs: Any) -> GraphApi:
    return GraphApi(stand_in.url, GRAPH_TOKEN, backoff_seconds=0.05, **kwargs)


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)


def roi_list(server: CamsServer) -> list[dict[str, Any]]:
    """`cams-server roi list` on the server's data directory (in process: it is quicker)."""
    result = CliRunner().invoke(cli, ["roi", "list"], env={"CAMS_HOME": str(server.home)})
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.strip()]


def state_of(server: CamsServer, space: str | None = MAIN) -> dict[str, Any]:
    (entry,) = [e for e in server.enablements() if e["space_id"] == space]
    return entry


def settles(
    server: CamsServer, space: str | None, state: str, timeout: float = 10.0
) -> dict[str, Any]:
    return wait_for(  # type: ignore[no-any-return]
        lambda: (e := state_of(server, space))["upstream"] == state and e,
        timeout,
        f"upstream {state} for {space}",
    )


def assert_waba_call(seen: Seen) -> None:
    assert seen.method == "POST"
    assert seen.path == WABA_PATH
    assert seen.query == {"is_enabled_for_insights": ["true"]}
    assert seen.headers["authorization"] == f"Bearer {GRAPH_TOKEN}"
    assert seen.headers["idempotency-key"] == f"{ACME}:{MAIN}"


# -- thread mode ------------------------------------------------------------------------


def test_success_is_confirmed_after_exactly_one_call(rich_world: Path, graph: StandIn) -> None:
    with CamsServer(world=rich_world, graph=graph_api(graph)) as server:
        assert enable(v3_client(server.endpoint, "acme-root"), MAIN)["Code"] == "OK"
        entry = settles(server, MAIN, "confirmed")
        assert entry["upstream_error"] is None
        (listed,) = roi_list(server)
        assert listed["upstream"] == "confirmed" and listed["upstream_error"] is None
        assert listed["space_id"] == MAIN and listed["account_id"] == ACME
        # A repeated enablement is answered locally: nothing more goes upstream.
        assert enable(v3_client(server.endpoint, "acme-root"), MAIN)["Code"] == "OK"
        time.sleep(QUIET)
    (call,) = graph.requests
    assert_waba_call(call)
    assert call.answered == 200


def test_transient_failures_are_retried_until_confirmed(rich_world: Path, graph: StandIn) -> None:
    graph.script = [500, 429]
    with CamsServer(world=rich_world, graph=graph_api(graph)) as server:
        assert enable(v3_client(server.endpoint, "acme-root"), MAIN)["Code"] == "OK"
        settles(server, MAIN, "confirmed")
        assert state_of(server)["upstream_error"] is None
    assert [r.answered for r in graph.requests] == [500, 429, 200]
    for call in graph.requests:
        assert_waba_call(call)


def test_pending_while_retrying_shows_the_last_error(rich_world: Path, graph: StandIn) -> None:
    graph.default = 503
    api = GraphApi(graph.url, GRAPH_TOKEN, backoff_seconds=30.0)
    with CamsServer(world=rich_world, graph=api) as server:
        assert enable(v3_client(server.endpoint, "acme-root"), MAIN)["Code"] == "OK"
        wait_for(lambda: graph.count() == 1, what="the first attempt")
        entry = wait_for(
            lambda: (e := state_of(server))["upstream_error"] and e, what="the error recorded"
        )
        assert entry["upstream"] == "pending"
        assert entry["upstream_error"].startswith("HTTP 503")
        assert "unexpected error" in entry["upstream_error"]
        # The next attempt waits for its backoff (30 s), however often the worker polls.
        time.sleep(QUIET)
        assert graph.count() == 1


def test_permanent_failure_is_failed_with_the_error(rich_world: Path, graph: StandIn) -> None:
    graph.script = [400]
    with CamsServer(world=rich_world, graph=graph_api(graph)) as server:
        assert enable(v3_client(server.endpoint, "acme-root"), MAIN)["Code"] == "OK"
        entry = settles(server, MAIN, "failed")
        assert entry["upstream_error"].startswith("HTTP 400")
        assert "is_enabled_for_insights is not allowed" in entry["upstream_error"]
        (listed,) = roi_list(server)
        assert listed["upstream"] == "failed"
        assert listed["upstream_error"] == entry["upstream_error"]
        time.sleep(QUIET)  # no retry of a 4xx
    assert [r.answered for r in graph.requests] == [400]


def test_attempts_run_out_then_failed(rich_world: Path, graph: StandIn) -> None:
    graph.default = 500
    with CamsServer(world=rich_world, graph=graph_api(graph, max_attempts=2)) as server:
        assert enable(v3_client(server.endpoint, "acme-root"), MAIN)["Code"] == "OK"
        entry = settles(server, MAIN, "failed")
        assert "2 attempts" in entry["upstream_error"]
        assert "HTTP 500" in entry["upstream_error"]
        time.sleep(QUIET)
    assert [r.answered for r in graph.requests] == [500, 500]


def test_unreachable_graph_api_is_retried(rich_world: Path, graph: StandIn) -> None:
    # Nothing listens on the first URL: connection errors are transient.
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    api = GraphApi(dead, GRAPH_TOKEN, backoff_seconds=0.05, max_attempts=2)
    with CamsServer(world=rich_world, graph=api) as server:
        assert enable(v3_client(server.endpoint, "acme-root"), MAIN)["Code"] == "OK"
        entry = settles(server, MAIN, "failed")
        assert "2 attempts" in entry["upstream_error"]
        assert "Connect" in entry["upstream_error"]


def test_no_graph_configured_is_not_configured(
    rich_world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CAMS_GRAPH_API_URL", raising=False)
    monkeypatch.delenv("CAMS_GRAPH_API_TOKEN", raising=False)
    with CamsServer(world=rich_world) as server:
        assert enable(v3_client(server.endpoint, "acme-root"), MAIN)["Code"] == "OK"
        (entry,) = server.enablements()
        assert entry["upstream"] == "not-configured"
        assert entry["upstream_error"] is None
        (listed,) = roi_list(server)
        assert listed["upstream"] == "not-configured"


def test_space_without_waba_is_not_configured(rich_world: Path, graph: StandIn) -> None:
    with CamsServer(world=rich_world, graph=graph_api(graph)) as server:
        assert enable(v3_client(server.endpoint, "acme-root"), CUST1)["Code"] == "OK"
        time.sleep(QUIET)
        assert state_of(server, CUST1)["upstream"] == "not-configured"
    assert graph.requests == []


def test_account_wide_enablement_turns_on_its_spaces_waba_once(
    rich_world: Path, graph: StandIn
) -> None:
    with CamsServer(world=rich_world, graph=graph_api(graph)) as server:
        client = v3_client(server.endpoint, "acme-root")
        assert enable(client)["Code"] == "OK"
        settles(server, None, "confirmed")
        # The space's own enablement later shares the delivered call.
        assert enable(client, MAIN)["Code"] == "OK"
        assert state_of(server, MAIN)["upstream"] == "confirmed"
        time.sleep(QUIET)
    (call,) = graph.requests
    assert_waba_call(call)


def test_local_ok_does_not_wait_for_meta(rich_world: Path, graph: StandIn) -> None:
    graph.script = ["hang"]
    with CamsServer(world=rich_world, graph=graph_api(graph)) as server:
        wait_for(lambda: server.state is not None, what="the server")
        started = time.monotonic()
        assert enable(v3_client(server.endpoint, "acme-root"), MAIN)["Code"] == "OK"
        assert time.monotonic() - started < 2.0
        wait_for(lambda: graph.count() == 1, what="the upstream call")
        # Meta has not answered: the enablement is in effect locally, upstream pending.
        assert state_of(server)["upstream"] == "pending"
        assert graph.answered() == []
        graph.release.set()
        settles(server, MAIN, "confirmed")
    assert [r.answered for r in graph.requests] == [200]


# -- process mode: a crash mid-delivery -------------------------------------------------


def test_kill_mid_delivery_then_restart_delivers_exactly_once(
    rich_world: Path, graph: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph.script = ["drop"]  # the first delivery never gets an answer
    api = GraphApi(graph.url, GRAPH_TOKEN, lease_seconds=1, backoff_seconds=0.05)
    server = CamsServer(world=rich_world, mode="process", home=tmp_path, graph=api)
    server.start()
    try:
        assert enable(v3_client(server.endpoint, "acme-root"), MAIN)["Code"] == "OK"
        wait_for(lambda: graph.count() == 1, what="the first delivery")
        server.kill()  # SIGKILL while the call is in flight
        assert state_of(server)["upstream"] == "pending"
        server.start()  # same home: the outbox row is still there, its lease runs out
        settles(server, MAIN, "confirmed", timeout=15)
        graph.release.set()  # the abandoned first call ends without an answer
        time.sleep(QUIET)
        assert state_of(server)["upstream"] == "confirmed"
    finally:
        server.stop()
    (delivered,) = graph.answered(200)
    assert_waba_call(delivered)
    assert [r.answered for r in graph.requests] == [None, 200]
    for call in graph.requests:
        assert_waba_call(call)


def test_a_late_answer_to_an_expired_claim_does_not_undo_a_confirmation(
    rich_world: Path, graph: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two worker processes of one deployment; leases shorter than a Graph call may take.
    graph.script = [("hang", 400)]
    api = GraphApi(graph.url, GRAPH_TOKEN, lease_seconds=0.3, backoff_seconds=0.05)
    with CamsServer(
        world=rich_world, mode="process", workers=2, home=tmp_path, graph=api
    ) as server:
        assert enable(v3_client(server.endpoint, "acme-root"), MAIN)["Code"] == "OK"
        # The first claim hangs; its lease runs out; the other worker delivers.
        settles(server, MAIN, "confirmed", timeout=15)
        assert len(graph.answered(200)) == 1
        graph.release.set()  # now Meta answers the abandoned first call, too late
        wait_for(lambda: graph.answered(400), what="the late answer")
        time.sleep(QUIET)
        assert state_of(server)["upstream"] == "confirmed", state_of(server)
