"""The ROI console: its admin endpoints agree with the official SDK's metric reads, and its
page (in headless Chromium) refuses without the token, shows the demo space and draws
each chart with the points the API returns. Screenshots go to test-output/explorer/."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from alibabacloud_cams20200606.client import Client
from alibabacloud_cams20200606.models import (
    GetChatappPhoneNumberMetricRequest,
    GetChatappTemplateMetricRequest,
)
from alibabacloud_tea_openapi.models import Config

from cams_server.testing import CamsServer
from tests.explorer.conftest import Site
from tests.explorer.test_browser import Tab

TOKEN = "console-test-token"
DAY = 86_400_000
SPACE = "cams-demo-main"
DEMO_ROOT = "LTAI5tDemoRootKey0001"
TEMPLATES = [("welcome", "en"), ("promo", "es")]


@pytest.fixture(scope="module")
def demo() -> Iterator[CamsServer]:
    """`serve --demo`: the demo world with a week of traffic, enabled eight days ago."""
    with CamsServer(mode="process", demo=True, admin_token=TOKEN) as server:
        yield server


def _client(server: CamsServer) -> Client:
    secret = server.access_keys()[DEMO_ROOT]
    return Client(
        Config(
            access_key_id=DEMO_ROOT,
            access_key_secret=secret,
            endpoint=server.endpoint,
            protocol="http",
        )
    )


def _console(server: CamsServer, path: str, **params: Any) -> httpx.Response:
    return httpx.get(
        f"{server.url}/_cams/console/{path}",
        params=params,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )


def _sdk_template(client: Client, code: str, start: int, end: int, grain: str) -> list[Any]:
    request = GetChatappTemplateMetricRequest(
        cust_space_id=SPACE, template_code=code, start=start, end=end, granularity=grain
    )
    return client.get_chatapp_template_metric(request).body.to_map()["Data"]  # type: ignore[no-any-return]


def test_the_console_figures_are_the_sdk_reads(demo: CamsServer) -> None:
    client = _client(demo)
    end = int(time.time() * 1000)
    start = end - 7 * DAY
    for grain in ("DAILY", "HALF_HOUR"):
        answer = _console(demo, "space", SpaceId=SPACE, Start=start, End=end, Granularity=grain)
        assert answer.status_code == 200, answer.text
        figures = answer.json()
        by_template = {(t["TemplateCode"], t["Language"]): t["Data"] for t in figures["Templates"]}
        sdk_entries = []
        for code, language in TEMPLATES:
            sdk = [
                e
                for e in _sdk_template(client, code, start, end, grain)
                if e["Language"] == language
            ]
            # The SDK's model keeps the fields it knows: those are the console's exactly.
            console = by_template[(code, language)]
            assert [{k: e[k] for k in s} for e, s in zip(console, sdk, strict=True)] == sdk
            assert len(console) == len(sdk)
            sdk_entries += sdk
            assert len(sdk) == len(figures["Periods"])
        totals = figures["Totals"]
        assert totals["Sent"] == sum(e["SentCount"] for e in sdk_entries) > 0
        assert totals["Delivered"] == sum(e["DeliveredCount"] for e in sdk_entries)
        assert totals["Read"] == sum(e["ReadCount"] for e in sdk_entries)
        assert totals["Clicked"] == sum(c["Count"] for e in sdk_entries for c in e["Cliented"])
        spent = sum(e["AmountSpent"] for t in figures["Templates"] for e in t["Data"])
        assert totals["AmountSpent"] == pytest.approx(spent)
        phones = client.get_chatapp_phone_number_metric(
            GetChatappPhoneNumberMetricRequest(
                cust_space_id=SPACE, start=start, end=end, granularity=grain
            )
        ).body.to_map()["Data"]
        console_phones = [e for p in figures["Phones"] for e in p["Data"]]
        assert [{k: e[k] for k in s} for e, s in zip(console_phones, phones, strict=True)] == phones
    listed = _console(demo, "enablements", Start=start, End=end).json()["Enablements"]
    (main,) = [e for e in listed if e["space_id"] == SPACE]
    assert main["totals"]["Sent"] == totals["Sent"]
    assert main["upstream"] == "not-configured"


def test_the_console_endpoints_need_the_token_and_a_readable_range(demo: CamsServer) -> None:
    end = int(time.time() * 1000)
    anonymous = httpx.get(
        f"{demo.url}/_cams/console/enablements", params={"Start": end - DAY, "End": end}
    )
    assert anonymous.status_code == 401
    too_long = _console(demo, "space", SpaceId=SPACE, Start=end - 91 * DAY, End=end)
    assert too_long.status_code == 400 and "90 days" in too_long.json()["Message"]
    unknown = _console(demo, "space", SpaceId="cams-nowhere", Start=end - DAY, End=end)
    assert unknown.status_code == 404
    bad = _console(demo, "enablements", Start="soon", End=end)
    assert bad.status_code == 400


# -- the page -------------------------------------------------------------------------------


def _tab(browser: Any, demo: CamsServer, width: int = 1360) -> tuple[Any, Tab]:
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    return context, Tab(context.new_page(), Site(demo.url, demo))


def _signed_in(tab: Tab) -> Any:
    """The console opened with the token; its page."""
    tab.open("/console")
    tab.page.fill("#token", TOKEN)
    tab.page.click("#open")
    return tab.page


def test_the_console_refuses_without_the_token(browser: Any, demo: CamsServer) -> None:
    from playwright.sync_api import expect

    context, tab = _tab(browser, demo)
    try:
        tab.open("/console")
        page = tab.page
        expect(page.locator("#token-card")).to_be_visible()
        expect(page.locator("#overview")).to_be_hidden()
        page.fill("#token", "not-the-token")
        page.click("#open")
        expect(page.locator("#token-error")).to_contain_text("Admin.InvalidToken")
        expect(page.locator("#overview")).to_be_hidden()
        html = httpx.get(f"{demo.url}/console", timeout=10)
        assert TOKEN not in html.text
        assert "script-src 'self'" in html.headers["content-security-policy"]
        assert tab.errors == []
    finally:
        context.close()


def test_the_console_shows_the_demo_space_and_draws_the_api_numbers(
    browser: Any, demo: CamsServer
) -> None:
    from playwright.sync_api import expect

    client = _client(demo)
    context, tab = _tab(browser, demo)
    try:
        page = _signed_in(tab)
        row = page.locator("#enablements tbody tr", has=page.locator(f"button[data-space={SPACE}]"))
        expect(row).to_have_count(1)
        tab.shot("console-enablements.png")
        page.click(f"button[data-space={SPACE}]")
        expect(page.locator("#space-title")).to_contain_text(SPACE)
        page.wait_for_function("() => window.camsConsole && window.camsConsole.charts.funnel")
        labels = page.evaluate("() => window.camsConsole.charts.templates.data.labels.length")
        end = int(time.time() * 1000)
        sdk = _sdk_template(client, "welcome", end - 7 * DAY, end, "DAILY")
        assert labels == len([e for e in sdk if e["Language"] == "en"])
        funnel = page.evaluate("() => window.camsConsole.charts.funnel.data.datasets[0].data")
        sent = sum(
            e["SentCount"]
            for code, _ in TEMPLATES
            for e in _sdk_template(client, code, end - 7 * DAY, end, "DAILY")
        )
        assert funnel[0] == sent
        expect(page.locator("[data-figure=Sent] strong")).to_have_text(f"{sent:,}")
        # The CSV is the chart's series.
        with page.expect_download() as download:
            page.click("button.csv[data-chart=templates]")
        with open(download.value.path(), encoding="utf-8") as saved:
            rows = list(csv.reader(io.StringIO(saved.read())))
        chart = page.evaluate(
            "() => { const d = window.camsConsole.charts.templates.data;"
            " return {labels: d.labels, sets: d.datasets.map(s => [s.label, s.data])}; }"
        )
        assert rows[0][1:] == [label for label, _ in chart["sets"]]
        assert [r[0] for r in rows[1:]] == chart["labels"]
        assert [[float(v) for v in r[1:]] for r in rows[1:]] == [
            [float(values[i]) for _, values in chart["sets"]] for i in range(len(chart["labels"]))
        ]
        tab.shot("console-space.png")
        # Before the enablement: no traffic counted, said so.
        page.select_option("#range", "custom")
        page.fill("#from", "2020-01-01")
        page.fill("#to", "2020-01-02")
        page.dispatch_event("#to", "change")
        expect(page.locator("#space-empty")).to_contain_text("No traffic in this range")
        assert tab.errors == []
    finally:
        context.close()


def test_the_console_fits_a_phone(browser: Any, demo: CamsServer) -> None:
    from playwright.sync_api import expect

    context, tab = _tab(browser, demo, width=390)
    try:
        page = _signed_in(tab)
        page.click(f"button[data-space={SPACE}]")
        page.wait_for_function("() => window.camsConsole && window.camsConsole.charts.cost")
        expect(page.locator("#chart-templates")).to_be_visible()
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        tab.shot("console-390.png")
        assert tab.errors == []
    finally:
        context.close()


def test_a_space_that_is_not_enabled_says_so(browser: Any, demo: CamsServer) -> None:
    from playwright.sync_api import expect

    context, tab = _tab(browser, demo)
    try:
        page = _signed_in(tab)
        page.fill("#space-id", "cams-demo-cust-1")
        page.click("#show-space")
        expect(page.locator("#space-empty")).to_contain_text("not enabled for this space")
        page.select_option("#range", "custom")
        page.fill("#from", "2025-01-01")
        page.fill("#to", "2025-06-30")
        page.dispatch_event("#to", "change")
        expect(page.locator("#space-empty")).to_contain_text("The range is too long")
        tab.shot("console-not-enabled.png")
        assert tab.errors == []
    finally:
        context.close()
