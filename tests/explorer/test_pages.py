"""The reference pages and the Explorer's routes, checked against the operation catalog.

Rendered through `Explorer.route` directly: no server, no browser.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from cams_server.cams.demo import demo_world
from cams_server.explorer import Explorer, demo_keys_of
from cams_server.explorer.pages import rate_limit_text
from cams_server.rpc.catalog import Catalog, Operation
from cams_server.server import implemented_catalog
from cams_server.wire.encoding import EncodedResponse
from cams_server.wire.request import WireRequest

CATALOG = implemented_catalog()
HOST = "127.0.0.1:18080"
SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "EnableWhatsappROIMetric.txt"

# What Alibaba's reference page of EnableWhatsappROIMetric (shared/seed) shows.
SEED_PARAMETERS = {"IsvCode": ("string", "No"), "CustSpaceId": ("string", "No")}
SEED_RESPONSE_FIELDS = ("RequestId", "Code", "Message", "AccessDeniedDetail")
SEED_ERRORS = (
    ("400", "Product.Unsubscript", "You have not subscribed to the specified product."),
    ("400", "Ram.PermissionDeny", "You are not authorized to perform the operation."),
    ("400", "System.LimitControl", "The system is under flow control."),
    ("400", "Unknown.ResourceOwnerId", "The resource does not belong to the current user."),
)
SEED_RATE = ("five times per second", 5)


class _Tables(HTMLParser):
    """Every table of a page as rows of cell texts (header rows included)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, list[list[str]]]:
    """Rows of the tables with the same first header cells, by those cells' text
    (e.g. 'Parameter|Type|Required'), in page order."""
    parser = _Tables()
    parser.feed(html)
    found: dict[str, list[list[str]]] = {}
    for table in parser.tables:
        found.setdefault("|".join(table[0][:3]), []).extend(table[1:])
    return found


def text_of(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def get(
    explorer: Explorer, path: str, query: str = "", method: str = "GET"
) -> EncodedResponse | None:
    request = WireRequest.build(
        method, path.encode(), query.encode(), [(b"host", HOST.encode())], b"", "127.0.0.1", False
    )
    return explorer.route(request, "REQUEST-ID-1")


def page(explorer: Explorer, path: str, query: str = "") -> tuple[str, Mapping[bytes, bytes]]:
    response = get(explorer, path, query)
    assert response is not None
    status, headers, body = response
    assert status == 200, body
    return body.decode(), dict(headers)


@pytest.fixture(scope="module")
def explorer() -> Explorer:
    return Explorer(CATALOG, lambda: [])


def _response_names(fields: Mapping[str, Any]) -> list[str]:
    names = []
    for name, schema in fields.items():
        names.append(name)
        children = schema.get("properties") or (schema.get("items") or {}).get("properties") or {}
        names += _response_names(children)
    return names


@pytest.mark.parametrize("op", list(CATALOG), ids=lambda op: op.name)
def test_reference_page_shows_the_whole_catalog_entry(explorer: Explorer, op: Operation) -> None:
    html, headers = page(explorer, f"/docs/{op.name}")
    assert headers[b"content-type"].startswith(b"text/html")
    assert b"script-src 'self'" in headers[b"content-security-policy"]
    found = tables(html)
    text = text_of(html)
    assert op.name in text
    assert op.text("en").summary in text  # English by default (our own words)

    params = {row[0]: row for row in found.get("Parameter|Type|Required", [])}
    assert list(params) == [spec.name for spec in op.parameters]
    for spec in op.parameters:
        _, type_cell, required, _description, example = params[spec.name]
        assert type_cell.startswith(spec.type)
        if spec.format:
            assert spec.format in type_cell
        assert required == ("Yes" if spec.required else "No")
        assert example == (spec.example or "")

    response = [row[0] for row in found["Parameter|Type|Description"]]
    assert response[0] == ""  # the top-level object, as the seed shows it
    assert response[1:] == _response_names(op.response_fields)

    errors = found.get("HTTP status code|Error code|Error message", [])
    assert [tuple(row) for row in errors] == [(str(e.status), e.code, e.message) for e in op.errors]

    auth = found["Operation|Access level|Resource type"]
    assert auth[0][:2] == [op.ram_action, op.access_level]

    if op.flow_limit is not None:
        assert f"{op.flow_limit} calls per second" in text
    else:
        assert rate_limit_text(op) in text
    sample = op.text("en").sample
    if sample:
        assert json.loads(sample)["RequestId"] in text
    assert f'href="/explorer?Action={op.name}"' in html
    original, _ = page(explorer, f"/docs/{op.name}", "lang=zh")
    assert op.summary in text_of(original)  # Alibaba's own, a switch away


def test_enable_whatsapp_roi_metric_page_has_everything_of_the_seed(explorer: Explorer) -> None:
    if SEED.is_file():  # the constants above are the seed's own words
        seed = SEED.read_text()
        for name in [*SEED_PARAMETERS, *SEED_RESPONSE_FIELDS, SEED_RATE[0]]:
            assert name in seed
        for row in SEED_ERRORS:
            assert "".join(row) in seed
    op = CATALOG.get("EnableWhatsappROIMetric")
    assert op.flow_limit == SEED_RATE[1]
    html, _ = page(explorer, "/docs/EnableWhatsappROIMetric")
    found = tables(html)
    params = {row[0]: (row[1], row[2]) for row in found["Parameter|Type|Required"]}
    for name, (type_, required) in SEED_PARAMETERS.items():
        assert params[name] == (type_, required)
    response = [row[0] for row in found["Parameter|Type|Description"]]
    assert all(field in response for field in SEED_RESPONSE_FIELDS)
    errors = [tuple(row) for row in found["HTTP status code|Error code|Error message"]]
    assert all(error in errors for error in SEED_ERRORS)
    assert f"{SEED_RATE[1]} calls per second per account" in text_of(html)
    auth = found["Operation|Access level|Resource type"][0]
    assert auth == ["cams:EnableWhatsappROIMetric", "get", "All Resources *", "none", "none"]


@pytest.mark.parametrize("path", ["/docs/", "/docs"])
def test_index_lists_every_operation(explorer: Explorer, path: str) -> None:
    html, _ = page(explorer, path)
    rows = tables(html)["Operation|Summary|RAM action"]
    assert [row[0] for row in rows] == [op.name for op in CATALOG]
    for op in CATALOG:
        assert f'href="/docs/{op.name}"' in html
    assert "5 calls per second per account" in text_of(html)


@pytest.mark.parametrize("path", ["/docs/NoSuchAction", "/docs/enablewhatsapproimetric"])
def test_unknown_action_is_a_404_json_error(explorer: Explorer, path: str) -> None:
    response = get(explorer, path)
    assert response is not None
    status, headers, body = response
    assert status == 404
    assert dict(headers)[b"content-type"].startswith(b"application/json")
    error = json.loads(body)
    assert error["Code"] == "InvalidAction.NotFound"
    assert error["RequestId"] == "REQUEST-ID-1"
    assert "EnableWhatsappROIMetric" in error["Message"]


def test_paths_it_does_not_own_are_left_alone(explorer: Explorer) -> None:
    for path in ["/", "/_cams/health", "/docsx", "/explorerx", "/webhooks/whatsapp"]:
        assert get(explorer, path) is None


def test_only_get_is_answered(explorer: Explorer) -> None:
    response = get(explorer, "/explorer", method="POST")
    assert response is not None
    assert response[0] == 404
    assert json.loads(response[2])["Code"] == "InvalidAction.NotFound"


def test_metadata_text_is_escaped() -> None:
    original = CATALOG.get("EnableWhatsappROIMetric")
    hostile_text = dataclasses.replace(
        original.text("en"),
        summary='<script>alert("s")</script>',
        description="**bold** and <img src=x onerror=alert(1)> `code`",
    )
    op = dataclasses.replace(original, texts={**original.texts, "en": hostile_text})
    hostile = Explorer(Catalog([op]), lambda: [("</script><b>", "LTAIx", "s3cr<et")])
    html, _ = page(hostile, "/docs/EnableWhatsappROIMetric")
    assert "<script>alert" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html
    explorer_html, _ = page(hostile, "/explorer")
    embedded = re.search(
        r'<script type="application/json" id="explorer-data">(.*?)</script>', explorer_html, re.S
    )
    assert embedded is not None
    assert "<" not in embedded.group(1)
    data = json.loads(embedded.group(1))
    assert data["operations"][0]["summary"] == '<script>alert("s")</script>'
    assert data["demoKeys"][0]["label"] == "</script><b>"
    assert "&lt;/script&gt;&lt;b&gt;" in explorer_html  # the picker's label


def test_explorer_page_embeds_the_catalog(explorer: Explorer) -> None:
    html, headers = page(explorer, "/explorer", "Action=GetChatappTemplateMetric")
    assert headers[b"cache-control"] == b"no-store"
    assert '<option value="GetChatappTemplateMetric" selected>' in html
    assert 'id="demo-key"' not in html  # no demo world, no picker
    data = json.loads(
        re.search(r'id="explorer-data">(.*?)</script>', html, re.S).group(1)  # type: ignore[union-attr]
    )
    by_name = {op["name"]: op for op in data["operations"]}
    assert list(by_name) == [op.name for op in CATALOG]
    for op in CATALOG:
        entry = by_name[op.name]
        assert entry["version"] == op.version
        assert entry["flowLimit"] == op.flow_limit
        assert [p["name"] for p in entry["parameters"]] == [p.name for p in op.parameters]
        assert [p["required"] for p in entry["parameters"]] == [p.required for p in op.parameters]
    assert "AliyunCAMSFullAccess" in data["systemPolicies"]
    assert '<script src="/explorer/static/explorer.js" defer></script>' in html


def test_demo_keys_fill_the_picker() -> None:
    keys = demo_keys_of(demo_world())
    assert [k[0] for k in keys] == [
        "demo account (root)",
        "RAM user alice (AliyunCAMSFullAccess)",
        "RAM user bob (AliyunCAMSReadOnlyAccess)",
        "RAM user carol (AliyunSTSAssumeRoleAccess)",
    ]
    assert [k[1] for k in keys] == [
        "LTAI5tDemoRootKey0001",
        "LTAI5tDemoAliceKey001",
        "LTAI5tDemoBobKey00001",
        "LTAI5tDemoCarolKey001",
    ]
    html, _ = page(Explorer(CATALOG, lambda: keys), "/explorer")
    assert 'id="demo-key"' in html
    assert "LTAI5tDemoAliceKey001" in html


def test_static_files(explorer: Explorer) -> None:
    js, headers = page(explorer, "/explorer/static/explorer.js")
    assert headers[b"content-type"].startswith(b"text/javascript")
    assert "ACS3-HMAC-SHA256" in js
    _, headers = page(explorer, "/explorer/static/explorer.css")
    assert headers[b"content-type"].startswith(b"text/css")
    for missing in ["/explorer/static/nope.js", "/explorer/static/../__init__.py", "/explorer/x"]:
        response = get(explorer, missing)
        assert response is not None and response[0] == 404


def test_samples_endpoint(explorer: Explorer) -> None:
    body, _ = page(
        explorer, "/explorer/samples", "Action=EnableWhatsappROIMetric&CustSpaceId=cams-acme-main"
    )
    answer = json.loads(body)
    assert answer["Endpoint"] == HOST and answer["Protocol"] == "http"
    languages = [s["Language"] for s in answer["Samples"]]
    assert languages == ["python", "node", "java", "go", "cli"]
    for sample in answer["Samples"]:
        assert HOST in sample["Code"]
        assert "cams-acme-main" in sample["Code"]

    bad = get(explorer, "/explorer/samples", "Action=GetChatappTemplateMetric&Start=soon")
    assert bad is not None and bad[0] == 400
    assert json.loads(bad[2])["Code"] == "InvalidParameter"
    unknown = get(explorer, "/explorer/samples", "Action=Nope")
    assert unknown is not None and unknown[0] == 404


def test_the_errors_page_explains_every_code(explorer: Explorer) -> None:
    """Every code of the guide and every operation's documented code has its entry."""
    from cams_server.explorer.error_guide import GUIDE

    html, headers = page(explorer, "/docs/errors")
    assert headers[b"content-type"].startswith(b"text/html")
    for code in GUIDE:
        assert f'id="{code}"' in html, code
    for op in CATALOG:
        for error in op.errors:
            assert f'id="{error.code}"' in html, (op.name, error.code)


@pytest.mark.parametrize(
    ("code", "said"),
    [
        ("SignatureNonceUsed", "fresh random nonce"),
        ("MissingCustSpaceId", "Send the parameter"),  # the Missing<Parameter> family
        ("InvalidParameter.DurationSeconds", "names the parameter"),  # InvalidParameter's
        ("AuthenticationFail.ApiUsername", "AssumeRole documents it"),  # documented only
    ],
)
def test_the_errors_page_puts_the_asked_code_first(
    explorer: Explorer, code: str, said: str
) -> None:
    html, _ = page(explorer, "/docs/errors", f"Code={code}&RequestId=RID-1")
    first = html.index('id="your-error"')
    assert f"Your error: <code>{code}</code>" in html
    assert said in html[first:]
    assert "RID-1" in html


def test_the_errors_page_escapes_what_it_is_given(explorer: Explorer) -> None:
    html, _ = page(explorer, "/docs/errors", "Code=%3Cscript%3Ex&RequestId=%3Cb%3E")
    assert "<script>x" not in html and "<b>" not in html
    assert "&lt;script&gt;x" in html


# -- English by default, Alibaba's Chinese a switch away ------------------------------------

CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
LANGUAGE_SWITCH = re.compile(r'<span class="languages">.*?</span>', re.S)


@pytest.mark.parametrize("path", ["/docs/", *[f"/docs/{op.name}" for op in CATALOG], "/explorer"])
def test_pages_speak_english_by_default(explorer: Explorer, path: str) -> None:
    html, headers = page(explorer, path)
    assert headers[b"content-language"] == b"en"
    assert '<html lang="en">' in html
    found = CJK.findall(LANGUAGE_SWITCH.sub("", html))
    assert not found, f"{path} has untranslated text: {''.join(found)[:80]}"


@pytest.mark.parametrize(
    ("query", "accept", "language"),
    [
        ("lang=zh", None, "zh"),
        ("", "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("", "fr-FR, en;q=0.5, zh;q=0.4", "en"),
        ("", "de", "en"),
        ("lang=en", "zh-CN", "en"),  # the page's switch wins
        ("lang=xx", "zh", "zh"),
    ],
)
def test_the_language_follows_the_switch_then_accept_language(
    explorer: Explorer, query: str, accept: str | None, language: str
) -> None:
    headers = [(b"host", HOST.encode())]
    if accept is not None:
        headers.append((b"accept-language", accept.encode()))
    request = WireRequest.build(
        "GET", b"/docs/EnableWhatsappROIMetric", query.encode(), headers, b"", "127.0.0.1", False
    )
    answer = explorer.route(request, "RID")
    assert answer is not None
    html = answer[2].decode()
    op = CATALOG.get("EnableWhatsappROIMetric")
    assert op.text(language).summary in unescape(html)
    assert dict(answer[1])[b"vary"] == b"Accept-Language"


def test_the_metric_pages_say_what_the_reads_take_and_give(explorer: Explorer) -> None:
    for name in ("GetChatappTemplateMetric", "GetChatappPhoneNumberMetric"):
        text = text_of(page(explorer, f"/docs/{name}")[0])
        assert "epoch milliseconds" in text and "90 days" in text, name
    html = page(explorer, "/docs/GetChatappTemplateMetric")[0]
    rows = {row[0]: row for row in tables(html)["Parameter|Type|Description"]}
    for extra in ("AmountSpent", "CostPerDelivered", "CostPerUrlButtonClick"):
        assert extra in rows, sorted(rows)  # a row of the response table, with its type
        assert rows[extra][1] == "number<double>"
        assert "this server's addition" in rows[extra][2]
    enable = text_of(page(explorer, "/docs/EnableWhatsappROIMetric")[0])
    assert "Without it, it enables every space the account owns itself" in enable
