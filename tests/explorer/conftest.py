"""A running cams-server whose /docs and /explorer pages answer, for the explorer tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
