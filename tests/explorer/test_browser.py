"""The reference pages and the API Explorer in a real headless Chromium.

Debian's chromium (/usr/bin/chromium), driven by the Python `playwright` package;
Playwright never downloads a browser of its own here. Without them the tests skip
with the reason, except under CI, where they must run. Screenshots of each page go
to test-output/explorer/ (gitignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.explorer.conftest import OUTPUT, Site
from tests.sdk.clients import KEYS

REQUEST_ID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")

# Shift the page's clock one hour ahead (before any of its scripts run).
CLOCK_AHEAD = """
(() => {
  const RealDate = Date;
  const offset = 3600 * 1000;
  class AheadDate extends RealDate {
    constructor(...args) {
      if (args.length) { super(...args); } else { super(RealDate.now() + offset); }
    }
    static now() { return RealDate.now() + offset; }
  }
  window.Date = AheadDate;
})();
"""


class Tab:
    """One page, with every request it sends and every script error it raises."""

    def __init__(self, page: Any, site: Site) -> None:
        self.page = page
        self.site = site
        self.errors: list[str] = []
        self.sent: list[Any] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", lambda request: self.sent.append(request))

    def open(self, path: str) -> None:
        self.page.goto(self.site.url + path)

    def api_calls(self) -> list[Any]:
        return [r for r in self.sent if r.url.split("?", 1)[0] == self.site.url + "/"]

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(OUTPUT / name), full_page=True)

    def call(self, action: str, who: str, **params: str) -> None:
        key_id, secret = KEYS[who]
        page = self.page
        page.select_option("#operation", action)
        page.fill("#access-key-id", key_id)
        page.fill("#access-key-secret", secret)
        for name, value in params.items():
            page.fill(f"#param-{name}", value)
        page.click("#call")


@pytest.fixture
def tab(browser: Any, site: Site) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    try:
        tab = Tab(context.new_page(), site)
        yield tab
        assert tab.errors == []
    finally:
        context.close()


def test_call_succeeds_and_shows_request_and_samples(tab: Tab) -> None:
    from playwright.sync_api import expect

    page = tab.page
    tab.open("/explorer")
    expect(page.locator("#sample-code")).to_contain_text("ALIBABA_CLOUD_ACCESS_KEY_ID")
    tab.call("EnableWhatsappROIMetric", "acme-root", CustSpaceId="cams-acme-main")

    expect(page.locator("#result-code")).to_have_text("OK")
    expect(page.locator("#status")).to_have_text(re.compile(r"^200"))
    assert REQUEST_ID.fullmatch(page.text_content("#request-id") or "")
    assert page.locator("#error").is_hidden()
    body = page.text_content("#response-body") or ""
    assert '"Code": "OK"' in body
    sent = page.text_content("#request-sent") or ""
    assert sent.startswith("POST /?CustSpaceId=cams-acme-main HTTP/1.1")
    assert "x-acs-action: EnableWhatsappROIMetric" in sent
    assert "Credential=LTAI5tAcmeRoot000001,SignedHeaders=host;x-acs-action;" in sent
    assert "cams-acme-main" in {e["space_id"] for e in tab.site.server.enablements()}

    # The samples follow the form; each tab has its language, all call this server.
    expect(page.locator("#sample-code")).to_contain_text('cust_space_id="cams-acme-main"')
    page.click("#sample-tabs button[data-language=node]")
    expect(page.locator("#sample-code")).to_contain_text("client.enableWhatsappROIMetric(request)")
    assert tab.site.endpoint in (page.text_content("#sample-code") or "")
    page.click("#sample-tabs button[data-language=python]")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("#copy-sample")
    expect(page.locator("#copy-sample")).to_have_text("Copied")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == page.text_content("#sample-code")
    assert "enable_whatsapp_roimetric(request)" in copied
    tab.shot("explorer.png")

    # The secret went nowhere: not in a URL, a header or a body the page sent.
    secret = KEYS["acme-root"][1]
    calls = tab.api_calls()
    assert len(calls) == 1
    for request in tab.sent:
        assert secret not in request.url
        assert all(secret not in v for v in request.all_headers().values())
        assert secret not in (request.post_data or "")
    assert calls[0].method == "POST"
    assert calls[0].all_headers()["authorization"].startswith("ACS3-HMAC-SHA256 ")


def test_permission_denial_is_explained(tab: Tab) -> None:
    from playwright.sync_api import expect

    page = tab.page
    tab.open("/explorer?Action=EnableWhatsappROIMetric")
    tab.call("EnableWhatsappROIMetric", "rita", CustSpaceId="cams-acme-main")

    expect(page.locator("#error-code")).to_have_text("Ram.PermissionDeny")
    expect(page.locator("#status")).to_have_text(re.compile(r"^400"))
    assert REQUEST_ID.fullmatch(page.text_content("#request-id") or "")
    assert "You are not authorized" in (page.text_content("#error-message") or "")
    advice = page.text_content("#advice") or ""
    assert "RAM user rita of account 1000000000000001" in advice
    assert "ImplicitDeny" in advice
    assert '"Action": "cams:EnableWhatsappROIMetric"' in advice  # the policy to grant
    assert "AliyunCAMSFullAccess" in advice
    assert "AliyunCAMSReadOnlyAccess is not enough" in advice
    tab.shot("explorer-denied.png")


def test_a_demo_key_can_be_picked(tab: Tab) -> None:
    """With the demo world, the page offers its keys; here the page is served by an
    Explorer given acme's keys as its demo keys (the API stays the real server's)."""
    from playwright.sync_api import expect

    from cams_server.explorer import Explorer
    from cams_server.server import implemented_catalog
    from tests.explorer.test_pages import get

    keys = [("acme account (root)", *KEYS["acme-root"]), ("RAM user rita", *KEYS["rita"])]
    response = get(Explorer(implemented_catalog(), lambda: keys), "/explorer")
    assert response is not None
    html = response[2].decode()
    tab.page.route(
        tab.site.url + "/explorer",
        lambda route: route.fulfill(status=200, content_type="text/html", body=html),
    )
    page = tab.page
    tab.open("/explorer")
    page.select_option("#demo-key", label=f"acme account (root) — {KEYS['acme-root'][0]}")
    expect(page.locator("#access-key-id")).to_have_value(KEYS["acme-root"][0])
    expect(page.locator("#access-key-secret")).to_have_value(KEYS["acme-root"][1])
    page.click("#call")
    expect(page.locator("#result-code")).to_have_text("OK")


def test_clock_skew_is_explained(tab: Tab) -> None:
    from playwright.sync_api import expect

    page = tab.page
    page.add_init_script(CLOCK_AHEAD)
    tab.open("/explorer")
    tab.call("EnableWhatsappROIMetric", "acme-root")

    expect(page.locator("#error-code")).to_have_text("InvalidTimeStamp.Expired")
    advice = page.text_content("#advice") or ""
    assert "clock is about 1 h ahead of the server's" in advice, advice
    assert "15 minutes" in advice


def test_form_is_validated_from_the_metadata(tab: Tab) -> None:
    from playwright.sync_api import expect

    page = tab.page
    tab.open("/explorer?Action=GetChatappTemplateMetric")
    expect(page.locator("#operation")).to_have_value("GetChatappTemplateMetric")
    for name in ("TemplateCode", "Start", "End"):
        expect(page.locator(f"label[for=param-{name}] .required")).to_have_count(1)
    expect(page.locator("label[for=param-Language] .required")).to_have_count(0)

    tab.call("GetChatappTemplateMetric", "acme-root", Start="soon")
    expect(page.locator("#form-error")).to_be_visible()
    expect(page.locator("#param-TemplateCode-error")).to_have_text("TemplateCode is required.")
    expect(page.locator("#param-Start-error")).to_have_text("Start must be an integer.")
    assert tab.api_calls() == []  # nothing was sent

    page.fill("#param-TemplateCode", "welcome")
    page.fill("#param-Start", "1693107714687")
    page.fill("#param-End", "1693407714687")
    page.click("#call")
    expect(page.locator("#result-code")).to_have_text("OK")
    assert len(tab.api_calls()) == 1
    expect(page.locator("#sample-code")).to_contain_text("start=1693107714687")


@pytest.mark.parametrize(
    ("path", "heading", "name"),
    [
        ("/docs/", "API reference", "docs.png"),
        (
            "/docs/EnableWhatsappROIMetric",
            "Chat App Message Service:EnableWhatsappROIMetric",
            "docs-EnableWhatsappROIMetric.png",
        ),
    ],
)
def test_reference_pages_render(tab: Tab, path: str, heading: str, name: str) -> None:
    from playwright.sync_api import expect

    tab.open(path)
    expect(tab.page.locator("h1")).to_have_text(heading)
    tab.shot(name)
    if path.endswith("EnableWhatsappROIMetric"):
        expect(tab.page.locator(".rate-limit")).to_contain_text("5 calls per second per account")
        tab.page.click("a.button")  # Debugging: to the Explorer, on this operation
        expect(tab.page.locator("#operation")).to_have_value("EnableWhatsappROIMetric")


def test_english_by_default_and_the_switch_to_the_original(tab: Tab) -> None:
    from playwright.sync_api import expect

    page = tab.page
    tab.open("/docs/GetChatappTemplateMetric")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("main")).to_contain_text("epoch milliseconds")
    page.click("header.top a.lang[lang=zh]")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("main")).to_contain_text("查询开始时间")  # Alibaba's own words
    tab.shot("docs-zh.png")
    page.click("header.top a.lang[lang=en]")
    expect(page.locator("main")).to_contain_text("Start of the range, in epoch milliseconds")


def test_a_date_picker_fills_epoch_milliseconds(tab: Tab) -> None:
    from playwright.sync_api import expect

    page = tab.page
    page.emulate_media()  # (a fresh context: the browser's time zone is the machine's)
    tab.open("/explorer?Action=GetChatappTemplateMetric")
    page.fill("#param-Start-date", "2026-11-27T10:00:00")
    expected = page.evaluate("() => String(new Date('2026-11-27T10:00:00').getTime())")
    expect(page.locator("#param-Start")).to_have_value(expected)
    utc = page.evaluate(f"() => new Date({expected}).toISOString().replace('.000Z', 'Z')")
    expect(page.locator("#param-Start-date-utc")).to_have_text(f"{utc} (UTC)")
    expect(page.locator("#sample-code")).to_contain_text(f"start={expected}")


def test_changing_the_operation_clears_the_last_result(tab: Tab) -> None:
    from playwright.sync_api import expect

    page = tab.page
    tab.open("/explorer")
    tab.call("EnableWhatsappROIMetric", "rita", CustSpaceId="cams-acme-main")
    expect(page.locator("#error-code")).to_have_text("Ram.PermissionDeny")
    page.select_option("#operation", "GetChatappPhoneNumberMetric")
    expect(page.locator("#placeholder")).to_be_visible()
    expect(page.locator("#outcome")).to_be_hidden()
    expect(page.locator("#error")).to_be_hidden()
    assert (page.text_content("#response-body") or "") == ""
    assert (page.text_content("#request-sent") or "") == ""


def test_the_demo_space_is_hinted(tab: Tab) -> None:
    from playwright.sync_api import expect

    from cams_server.cams.demo import demo_world
    from cams_server.explorer import Explorer, demo_keys_of, demo_spaces_of
    from cams_server.server import implemented_catalog
    from tests.explorer.test_pages import get

    world = demo_world()
    explorer = Explorer(
        implemented_catalog(), lambda: demo_keys_of(world), lambda: demo_spaces_of(world)
    )
    response = get(explorer, "/explorer")
    assert response is not None
    html = response[2].decode()
    tab.page.route(
        tab.site.url + "/explorer",
        lambda route: route.fulfill(status=200, content_type="text/html", body=html),
    )
    tab.open("/explorer")
    placeholder = tab.page.get_attribute("#param-CustSpaceId", "placeholder") or ""
    assert "cams-demo-main" in placeholder and "293483938849493" not in placeholder
    expect(tab.page.locator("#demo-key")).to_be_visible()


def test_the_explorer_fits_a_phone(browser: Any, site: Site) -> None:
    """At 390 px: nothing wider than the screen, the sample tabs inside it, and the Copy
    button below the sample, not over its text."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        tab = Tab(context.new_page(), site)
        tab.open("/explorer")
        page = tab.page
        expect(page.locator("#sample-code")).to_contain_text("ALIBABA_CLOUD_ACCESS_KEY_ID")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        for tab_button in page.locator("#sample-tabs button").all():
            box = tab_button.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        code, copy = (
            page.locator("#sample-code").bounding_box(),
            page.locator("#copy-sample").bounding_box(),
        )
        assert code is not None and copy is not None
        assert copy["y"] >= code["y"] + code["height"]  # below the text, not over it
        tab.shot("explorer-390.png")
        assert tab.errors == []
    finally:
        context.close()
