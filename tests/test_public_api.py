"""The public Python surface (CONTRACT.md section 5): pinned, so a change is deliberate."""

from __future__ import annotations

import importlib

import pytest

import cams_server
import cams_server.testing

PUBLIC = [
    "Clock",
    "ManualClock",
    "ServerSettings",
    "ServiceError",
    "SystemClock",
    "__version__",
    "build_app",
]
TESTING = ["CamsServer", "cams_server", "cams_world"]


def test_package_all_is_pinned() -> None:
    assert list(cams_server.__all__) == PUBLIC
    assert sorted(cams_server.__all__) == list(cams_server.__all__)


def test_testing_all_is_pinned() -> None:
    assert list(cams_server.testing.__all__) == TESTING


@pytest.mark.parametrize(
    ("module", "name"),
    [("cams_server", n) for n in PUBLIC] + [("cams_server.testing", n) for n in TESTING],
)
def test_every_public_name_is_importable(module: str, name: str) -> None:
    imported = importlib.import_module(module)
    assert getattr(imported, name) is not None
    namespace: dict[str, object] = {}
    exec(f"from {module} import {name}", namespace)  # noqa: S102
    assert namespace[name] is getattr(imported, name)


def test_version_matches_the_distribution() -> None:
    from importlib.metadata import version

    assert cams_server.__version__ == version("cams-server")
