"""Operating the server: Prometheus metrics at /metrics and one log line per call.

Issue #6, part 5: calls by action and code, latency histograms, throttled calls and the
sizes of the nonce and flow-control stores at `/metrics`; one structured log line per
call (`--log-format json`) carrying the RequestId, action, principal ARN, status, code
and latency, and never a secret or a signature. Calls are made with the official V2 SDK
(and, for the signatures whose bytes a test must know, by hand) over real HTTP.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from alibabacloud_tea_openapi.exceptions import ClientException, ThrottlingException
from prometheus_client.parser import text_string_to_metric_families

from cams_server.clock import ManualClock
from cams_server.testing import CamsServer
from tests.sdk.clients import KEYS, enable, v3_client
from tests.sdk.raw import v1_params, v3_headers

ACME = "1000000000000001"
ACTION = "EnableWhatsappROIMetric"
ROOT_ARN = f"acs:ram::{ACME}:root"
RITA_ARN = f"acs:ram::{ACME}:user/rita"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


# -- helpers --------------------------------------------------------------------------


def scrape(server: CamsServer) -> tuple[httpx.Response, Samples]:
    response = httpx.get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return response, samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def scrape_until(server: CamsServer, ready: Callable[[Samples], bool]) -> tuple[str, Samples]:
    """A scrape once the last call is counted (a call is counted just after its answer)."""
    deadline = time.monotonic() + 2
    while True:
        response, samples = scrape(server)
        if ready(samples) or time.monotonic() > deadline:
            return response.text, samples
        time.sleep(0.01)


def world_secrets(world: Path) -> list[str]:
    """Every AccessKey secret of a world file."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                if key == "secret" and isinstance(item, str):
                    found.append(item)
                else:
                    walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(tomllib.loads(world.read_text("utf-8")))
    return found


@dataclass
class Served:
    endpoint: str
    stderr: Path


@contextmanager
def serve(
    home: Path, world: Path, *extra: str, environ: dict[str, str] | None = None
) -> Iterator[Served]:
    """`cams-server serve` as a child process, its stderr in a file; SIGTERM on exit."""
    executable = Path(sys.executable).with_name("cams-server")
    command = (
        [str(executable)] if executable.exists() else [sys.executable, "-m", "cams_server.cli"]
    )
    args = [*command, "serve", "--port", "0", "--no-demo", "--world", str(world), *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMS_")}
    env["CAMS_HOME"] = str(home)
    env.update(environ or {})
    stderr = home / "stderr.log"
    with stderr.open("wb") as err:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, env=env)
    assert process.stdout is not None
    try:
        deadline = time.monotonic() + 30
        line = b""
        while b"listening on" not in line:
            ready, _, _ = select.select(
                [process.stdout], [], [], max(deadline - time.monotonic(), 0)
            )
            if not ready or process.poll() is not None:
                pytest.fail(f"cams-server did not start:\n{stderr.read_text(errors='replace')}")
            line = process.stdout.readline()
        url = line.decode().strip().rsplit(" ", 1)[1]
        threading.Thread(target=process.stdout.read, daemon=True).start()
        yield Served(url.removeprefix("http://"), stderr)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()


# -- /metrics -------------------------------------------------------------------------


@pytest.fixture
def server(rich_world: Path) -> Iterator[CamsServer]:
    with CamsServer(world=rich_world, clock=ManualClock()) as running:
        yield running


def test_metrics_count_calls_codes_throttles_latency_and_store_sizes(server: CamsServer) -> None:
    root = v3_client(server.endpoint, "acme-root")
    for _ in range(5):
        assert enable(root)["Code"] == "OK"
    with pytest.raises(ThrottlingException):  # the sixth within a second
        enable(root)
    server.manual_clock.advance(1.01)
    with pytest.raises(ClientException) as denied:
        enable(v3_client(server.endpoint, "rita"))
    assert denied.value.code == "Ram.PermissionDeny"

    def counted(samples: Samples) -> bool:
        return value(samples, "cams_call_seconds_count", action=ACTION) == 7

    text, samples = scrape_until(server, counted)
    calls = "cams_calls_total"
    assert value(samples, calls, action=ACTION, code="OK") == 5
    assert value(samples, calls, action=ACTION, code="System.LimitControl") == 1
    assert value(samples, calls, action=ACTION, code="Ram.PermissionDeny") == 1
    assert re.search(
        rf'^cams_calls_total\{{action="{ACTION}",code="OK"\}} 5(\.0)?$', text, re.MULTILINE
    ), text
    assert value(samples, "cams_throttled_calls_total", action=ACTION) == 1

    assert value(samples, "cams_call_seconds_count", action=ACTION) == 7
    assert value(samples, "cams_call_seconds_bucket", action=ACTION, le="+Inf") == 7
    total = value(samples, "cams_call_seconds_sum", action=ACTION)
    assert total is not None and 0 < total < 7 * 5
    buckets = sorted(
        (float(dict(labels)["le"]), count)
        for (name, labels), count in samples.items()
        if name == "cams_call_seconds_bucket" and dict(labels).get("action") == ACTION
    )
    assert len(buckets) > 2
    assert [c for _, c in buckets] == sorted(c for _, c in buckets)  # cumulative

    nonces = value(samples, "cams_guard_entries", store="nonces")
    windows = value(samples, "cams_guard_entries", store="flow_windows")
    assert nonces is not None and nonces > 0
    assert windows is not None and windows > 0
    slots = value(samples, "cams_guard_entries", store="nonce_slots")
    assert slots is not None and slots * 3 >= nonces * 4  # at most three quarters used

    for family, kind in (
        ("cams_calls_total", "counter"),
        ("cams_call_seconds", "histogram"),
        ("cams_throttled_calls_total", "counter"),
        ("cams_guard_entries", "gauge"),
    ):
        assert f"# TYPE {family} {kind}" in text
        assert f"# HELP {family} " in text


def test_metrics_are_prometheus_text_and_need_no_token(server: CamsServer) -> None:
    response, samples = scrape(server)
    content_type = response.headers["content-type"]
    assert content_type.startswith("text/plain")
    assert "version=0.0.4" in content_type
    assert response.headers["x-acs-request-id"]
    # Before any call the stores are empty, and present.
    assert value(samples, "cams_guard_entries", store="nonces") == 0
    assert value(samples, "cams_guard_entries", store="flow_windows") == 0


def test_each_server_has_metrics_of_its_own(server: CamsServer, rich_world: Path) -> None:
    assert enable(v3_client(server.endpoint, "gus"))["Code"] == "OK"
    scrape_until(server, lambda s: value(s, "cams_calls_total", action=ACTION, code="OK") == 1)
    with CamsServer(world=rich_world) as other:
        _, samples = scrape(other)
        assert value(samples, "cams_calls_total", action=ACTION, code="OK") is None


def test_unknown_paths_do_not_each_make_a_metric_series(server: CamsServer) -> None:
    def actions(samples: Samples) -> set[str]:
        return {
            dict(labels)["action"]
            for (name, labels), _ in samples.items()
            if name == "cams_calls_total"
        }

    before = actions(scrape(server)[1])
    for _ in range(5):
        response = httpx.get(f"{server.url}/no-such-{uuid.uuid4().hex}", timeout=10)
        assert response.status_code == 404
    after = actions(scrape(server)[1])
    assert len(after - before - {"/metrics"}) <= 1, sorted(after - before)


def test_answers_on_a_kept_alive_connection_are_not_delayed(server: CamsServer) -> None:
    with httpx.Client(timeout=10) as client:
        client.get(f"{server.url}/_cams/health")  # a new connection is not delayed
        times = []
        for _ in range(5):
            started = time.perf_counter()
            assert client.get(f"{server.url}/_cams/health").status_code == 200
            times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.03, times


# -- logs -----------------------------------------------------------------------------


def test_json_log_has_one_line_per_call_and_no_secret(tmp_path: Path, rich_world: Path) -> None:
    wrong_secret = f"not-alices-secret-{uuid.uuid4().hex[:8]}"
    with serve(tmp_path, rich_world, "--log-format", "json") as served:
        ok = enable(v3_client(served.endpoint, "acme-root"))
        assert ok["Code"] == "OK"
        with pytest.raises(ClientException) as denied:
            enable(v3_client(served.endpoint, "rita"))
        assert denied.value.code == "Ram.PermissionDeny"
        with pytest.raises(ClientException) as forged:
            enable(v3_client(served.endpoint, "alice", secret=wrong_secret))
        assert forged.value.code == "SignatureDoesNotMatch"
        # Hand-signed calls, whose signatures the test knows.
        key_id, secret = KEYS["ivan"]
        headers = v3_headers(served.endpoint, key_id, secret, {})
        v3 = httpx.post(f"http://{served.endpoint}/", headers=headers, timeout=10)
        assert v3.json()["Code"] == "OK", v3.text
        v3_signature = headers["Authorization"].rsplit("Signature=", 1)[1]
        key_id, secret = KEYS["olga"]
        params = v1_params(key_id, secret, {})
        v1 = httpx.post(f"http://{served.endpoint}/", params=params, timeout=10)
        assert v1.json()["Code"] == "OK", v1.text

    text = served.stderr.read_text("utf-8")
    lines = text.splitlines()
    assert lines
    entries: list[dict[str, Any]] = []
    for line in lines:
        entry = json.loads(line)  # every line is JSON
        assert isinstance(entry, dict), line
        assert {"time", "level", "logger", "message"} <= set(entry), entry
        entries.append(entry)

    def the_line(request_id: str) -> dict[str, Any]:
        (entry,) = [e for e in entries if e.get("request_id") == request_id]
        assert entry["logger"] == "cams_server.calls"
        assert entry["level"] == "info"
        assert entry["action"] == ACTION
        assert entry["method"] == "POST"
        assert entry["client"] == "127.0.0.1"
        assert isinstance(entry["latency_ms"], (int, float))
        assert 0 < entry["latency_ms"] < 10_000
        assert request_id in entry["message"]
        return entry

    root = the_line(str(ok["RequestId"]))
    assert (root["principal"], root["status"], root["code"]) == (ROOT_ARN, 200, "OK")
    rita = the_line(str(denied.value.request_id))
    assert (rita["principal"], rita["status"], rita["code"]) == (
        RITA_ARN,
        400,
        "Ram.PermissionDeny",
    )
    bad = the_line(str(forged.value.request_id))
    assert (bad["status"], bad["code"]) == (400, "SignatureDoesNotMatch")
    ivan = the_line(v3.json()["RequestId"])
    assert (ivan["principal"], ivan["code"]) == (f"acs:ram::{ACME}:user/ivan", "OK")
    olga = the_line(v1.json()["RequestId"])
    assert (olga["principal"], olga["code"]) == (f"acs:ram::{ACME}:user/olga", "OK")

    secrets = world_secrets(rich_world)
    assert KEYS["acme-root"][1] in secrets and len(secrets) == len(KEYS)
    for secret in [*secrets, wrong_secret]:
        assert secret not in text, secret
    assert v3_signature not in text
    assert params["Signature"] not in text
    assert "Signature=" not in text
    assert "ACS3-HMAC-SHA256" not in text
    # No signature of any call (the SDK's too): no long run of hex digits anywhere.
    assert not re.search(r"[0-9a-fA-F]{40,}", text)


def test_text_log_line_of_a_call_carries_its_request_id(tmp_path: Path, rich_world: Path) -> None:
    with serve(tmp_path, rich_world) as served:
        ok = enable(v3_client(served.endpoint, "acme-root"))
    text = served.stderr.read_text("utf-8")
    (line,) = [line for line in text.splitlines() if str(ok["RequestId"]) in line]
    assert not line.lstrip().startswith("{")
    assert "cams_server.calls" in line
    assert f" {ACTION} " in line and f" {ROOT_ARN} " in line
    assert " 200 OK " in line
    assert KEYS["acme-root"][1] not in text


def test_admin_calls_are_logged_under_their_route(tmp_path: Path, rich_world: Path) -> None:
    """`POST /_cams/reset`, not `POST admin`; a path the admin API lacks stays `admin`
    (paths are the caller's choice; routes are a fixed set)."""
    with serve(tmp_path, rich_world, environ={"CAMS_ADMIN_TOKEN": "log-test-token"}) as served:
        base = f"http://{served.endpoint}"
        auth = {"Authorization": "Bearer log-test-token"}
        assert httpx.post(f"{base}/_cams/reset", headers=auth, timeout=10).status_code == 200
        assert httpx.get(f"{base}/_cams/health", timeout=10).status_code == 200
        assert httpx.get(f"{base}/_cams/no-such-route", timeout=10).status_code == 404
    lines = served.stderr.read_text("utf-8").splitlines()
    assert any(" POST /_cams/reset - 200 OK " in line for line in lines), lines[-5:]
    assert any(" GET /_cams/health - 200 OK " in line for line in lines), lines[-5:]
    assert any(" GET admin - 404 InvalidAction.NotFound " in line for line in lines)
