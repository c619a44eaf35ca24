"""The routes at `/`: a browser is sent to the reference pages; API clients keep
Alibaba's JSON errors."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from cams_server.testing import CamsServer

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture(scope="module")
def server() -> Iterator[CamsServer]:
    with CamsServer() as running:
        yield running


def test_a_browser_at_the_root_is_sent_to_the_reference(server: CamsServer) -> None:
    answer = httpx.get(f"{server.url}/", headers={"Accept": BROWSER}, timeout=10)
    assert answer.status_code == 302
    assert answer.headers["location"] == "/docs/"
    assert answer.headers["x-acs-request-id"]
    page = httpx.get(
        f"{server.url}/", headers={"Accept": BROWSER}, timeout=10, follow_redirects=True
    )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/", {}),  # no Accept: an HTTP client, not a browser
        ("/", {"Accept": "application/json"}),
        ("/?Action=EnableWhatsappROIMetric", {"Accept": BROWSER}),  # an API call, unsigned
        ("/", {"Accept": BROWSER, "Authorization": "ACS3-HMAC-SHA256 Credential=x"}),
    ],
)
def test_api_requests_at_the_root_keep_json_errors(
    server: CamsServer, path: str, headers: dict[str, str]
) -> None:
    answer = httpx.get(f"{server.url}{path}", headers=headers, timeout=10)
    assert 400 <= answer.status_code < 500
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["Code"]
