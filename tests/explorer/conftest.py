"""A running cams-server whose pages answer, and headless Chromium, for the explorer tests.

Debian's chromium (/usr/bin/chromium), driven by the Python `playwright` package;
Playwright never downloads a browser of its own here. Without them the browser tests skip
with the reason, except under CI, where they must run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cams_server.testing import CamsServer


@dataclass(frozen=True)
class Site:
    url: str  # http://127.0.0.1:PORT, pages and API alike
    server: CamsServer

    @property
    def endpoint(self) -> str:
        return self.url.split("://", 1)[1]


@pytest.fixture(scope="module")
def site(rich_world: Path) -> Iterator[Site]:
    with CamsServer(world=rich_world) as server:
        yield Site(server.url, server)


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "explorer"


def browser_unavailable() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install chromium (Debian's package)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -e '.[test]'"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = browser_unavailable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests must run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
