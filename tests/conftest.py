"""Shared fixtures: the test world and official SDK clients pointed at a server."""

from __future__ import annotations

from pathlib import Path

import pytest

WORLDS = Path(__file__).parent / "worlds"


@pytest.fixture(scope="session")
def rich_world() -> Path:
    return WORLDS / "rich.toml"
