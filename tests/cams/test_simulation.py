"""Simulated traffic: the funnel generator, `cams-server simulate`, and the demo world.

Everything simulated goes through the normal ingestion path, so what the metric reads
answer afterwards is checked through the official V2 SDK.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_cams20200606.client import Client as V2Client
from alibabacloud_cams20200606.models import (
    GetChatappPhoneNumberMetricRequest,
    GetChatappTemplateMetricRequest,
)
from alibabacloud_tea_openapi.models import Config
from click.testing import CliRunner

from cams_server.cams.simulation import Funnel, TemplateMix, simulate
from cams_server.cli import cli
from cams_server.clock import ManualClock
from cams_server.testing import CamsServer
from tests.sdk.clients import KEYS, enable, v3_client
from tests.sdk.raw import iso, v3_call

MAIN = "cams-acme-main"
DAY = 86_400_000
CAMS_SERVER = Path(sys.executable).with_name("cams-server")


def totals(client: V2Client, template: str, space: str, start: int, end: int) -> dict[str, int]:
    data = client.get_chatapp_template_metric(
        GetChatappTemplateMetricRequest(
            template_code=template, cust_space_id=space, granularity="DAILY", start=start, end=end
        )
    ).body.data
    return {
        "sent": sum(d.sent_count for d in data),
        "delivered": sum(d.delivered_count for d in data),
        "read": sum(d.read_count for d in data),
        "clicks": sum(c.count for d in data for c in d.cliented),
    }


def run_cli(home: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env={"CAMS_HOME": str(home)})


# -- the generator ------------------------------------------------------------------------


def test_simulated_funnel_is_reproducible_and_ordered() -> None:
    mix = [TemplateMix("welcome", "en", 2.0), TemplateMix("promo", "es")]
    args = ("cams-x", "8613800000000", mix, Funnel(), 500, 1_000_000, 1_000_000 + 7 * DAY)
    first = list(simulate(*args, seed=3))
    assert first == list(simulate(*args, seed=3))
    assert first != list(simulate(*args, seed=4))
    messages = [m for batch, _ in first for m in batch]
    events = [e for _, batch in first for e in batch]
    assert len(messages) == 500
    assert len({m.message_id for m in messages}) == 500
    assert len({e.event_id for e in events}) == len(events)
    sent_at = {m.message_id: m.sent_at_ms for m in messages}
    assert all(1_000_000 <= t < 1_000_000 + 7 * DAY + 1000 for t in sent_at.values())
    assert all(m.cost == Decimal("0.0147") for m in messages)
    by_kind: dict[str, set[str]] = {}
    for e in events:
        assert e.occurred_at_ms > sent_at[e.message_id]
        by_kind.setdefault(e.kind, set()).add(e.message_id)
    # A funnel: read only what was delivered, click only what was read.
    assert by_kind["read"] <= by_kind["delivered"]
    assert by_kind["click"] <= by_kind["read"]
    assert 0.85 < len(by_kind["delivered"]) / 500 < 0.98
    assert {m.template_code for m in messages} == {"welcome", "promo"}
    assert {e.button_type for e in events if e.kind == "click"} <= {
        "url_button",
        "quick_reply_button",
    }


# -- cams-server simulate ------------------------------------------------------------------


@pytest.fixture
def eight_days_ago(rich_world: Path) -> Iterator[CamsServer]:
    """A server whose clock starts eight days ago, when cams-acme-main gets enabled."""
    clock = ManualClock(time.time() - 8 * 86_400)
    with CamsServer(world=rich_world, clock=clock) as server:
        key_id, secret = KEYS["acme-root"]
        # A signed call dated by the server's clock (no SDK can date its calls).
        response = v3_call(
            server.endpoint, key_id, secret, {"CustSpaceId": MAIN}, date=iso(clock.now())
        )
        assert response.status_code == 200, response.text
        assert response.json()["Code"] == "OK"
        clock.set(time.time())
        yield server


def test_simulate_on_an_enabled_space_yields_non_zero_reads(eight_days_ago: CamsServer) -> None:
    result = run_cli(
        eight_days_ago.home, "simulate", "--space", MAIN, "--messages", "500", "--seed", "7"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["Messages"] == 500
    assert summary["Counted"] > 500 and summary["NotCounted"] == 0
    now = int(time.time() * 1000)
    client = v3_client(eight_days_ago.endpoint, "acme-root")
    welcome = totals(client, "welcome", MAIN, now - 8 * DAY, now)
    promo = totals(client, "promo", MAIN, now - 8 * DAY, now)
    assert welcome["sent"] + promo["sent"] == 500
    for figures in (welcome, promo):
        assert figures["sent"] > figures["delivered"] > figures["read"] > figures["clicks"] > 0
    assert summary["Counted"] == 500 + sum(
        welcome[k] + promo[k] for k in ("delivered", "read", "clicks")
    )
    phones = client.get_chatapp_phone_number_metric(
        GetChatappPhoneNumberMetricRequest(
            cust_space_id=MAIN, phone_number="8613800000000", start=now - 8 * DAY, end=now
        )
    ).body.data
    assert sum(p.sent_count for p in phones) == 500
    # Simulating again with the same seed adds nothing (the same message ids), and says so.
    again = run_cli(
        eight_days_ago.home, "simulate", "--space", MAIN, "--messages", "500", "--seed", "7"
    )
    assert again.exit_code == 1
    assert json.loads(again.stdout)["Duplicates"] > 500
    assert "nothing was recorded" in again.stderr and "another --seed" in again.stderr
    assert totals(client, "welcome", MAIN, now - 8 * DAY, now) == welcome
    # The same seed on another space is other traffic: its ids include the space.
    other = run_cli(
        eight_days_ago.home,
        *("simulate", "--space", "cams-acme-cust-1", "--messages", "50", "--seed", "7"),
    )
    assert other.exit_code == 0, other.output
    assert json.loads(other.stdout)["Messages"] == 50


def test_simulate_right_after_enabling_yields_non_zero_reads(rich_world: Path) -> None:
    with CamsServer(world=rich_world) as server:
        client = v3_client(server.endpoint, "acme-root")
        assert enable(client, MAIN)["Code"] == "OK"
        result = run_cli(server.home, "simulate", "--space", MAIN, "--messages", "500")
        assert result.exit_code == 0, result.output
        now = int(time.time() * 1000)
        assert totals(client, "welcome", MAIN, now - 8 * DAY, now + DAY)["sent"] > 0


def test_simulate_names_an_undeclared_space(tmp_path: Path, rich_world: Path) -> None:
    assert run_cli(tmp_path, "world", "apply", str(rich_world)).exit_code == 0
    result = run_cli(tmp_path, "simulate", "--space", "cams-nowhere", "--messages", "5")
    assert result.exit_code != 0
    assert "cams-nowhere" in result.output
    result = run_cli(tmp_path, "simulate", "--space", MAIN, "--template", "welcome")
    assert result.exit_code != 0
    assert "CODE:LANGUAGE" in result.output


# -- the demo world -------------------------------------------------------------------------


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`cams-server serve --port 0` on an empty CAMS_HOME: the demo world is seeded."""
    env = {**os.environ, "CAMS_HOME": str(tmp_path)}
    for name in ("CAMS_DATABASE_URL", "CAMS_REDIS_URL", "CAMS_GRAPH_API_URL"):
        env.pop(name, None)
    command = (
        [str(CAMS_SERVER)] if CAMS_SERVER.exists() else [sys.executable, "-m", "cams_server.cli"]
    )
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [*command, "serve", "--port", "0"], stdout=subprocess.PIPE, stderr=log, env=env
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        line = b""
        while b"listening on" not in line:
            ready, _, _ = select.select(
                [process.stdout], [], [], max(deadline - time.monotonic(), 0)
            )
            assert ready and process.poll() is None, (tmp_path / "server.log").read_text()
            line = process.stdout.readline()
        endpoint = line.decode().strip().rsplit("//", 1)[1]
        yield endpoint, tmp_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        log.close()


def test_demo_world_answers_with_non_zero_metrics(demo_server: tuple[str, Path]) -> None:
    endpoint, home = demo_server
    export = run_cli(home, "world", "export")  # what the server printed at start, again
    assert export.exit_code == 0, export.output
    exported = export.output
    (demo,) = [a for a in tomllib.loads(exported)["accounts"] if a["name"] == "demo"]
    root = demo["access_keys"][0]
    client = V2Client(
        Config(
            access_key_id=root["id"],
            access_key_secret=root["secret"],
            endpoint=endpoint,
            protocol="http",
            region_id="ap-southeast-1",
        )
    )
    now = int(time.time() * 1000)
    welcome = totals(client, "welcome", "cams-demo-main", now - 8 * DAY, now)
    assert welcome["sent"] > 0
    assert welcome["sent"] > welcome["delivered"] > welcome["read"] > welcome["clicks"] > 0
    phones = client.get_chatapp_phone_number_metric(
        GetChatappPhoneNumberMetricRequest(
            cust_space_id="cams-demo-main", start=now - 8 * DAY, end=now, granularity="DAILY"
        )
    ).body.data
    assert sum(p.sent_count for p in phones) > welcome["sent"]  # welcome and promo


def test_no_outcome_is_later_than_the_end_of_the_simulated_span() -> None:
    """Traffic simulated up to now holds no delivery, read or click from the future (a
    read of [start, now] would miss them, and the totals would not add up)."""
    end = 1_800_000_000_000
    batches = simulate(
        "cams-x",
        "8613800000000",
        [TemplateMix("promo", "es")],
        Funnel(),
        3000,
        end - 3_600_000,
        end,
    )
    events = [e for _, batch in batches for e in batch]
    assert events
    assert max(e.occurred_at_ms for e in events) <= end
