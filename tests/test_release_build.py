"""The release build (setup.py, build_backend/): what it compiles, and what it needs.

`make test-release` runs this file against the release build too: there every module
setup.py lists must be compiled, and a source or editable install must compile none.
"""

from __future__ import annotations

import ast
import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

import cams_server.server  # noqa: F401  (imports the whole request path)
from cams_server.gateway import pipeline
from cams_server.serving import compiled_modules

ROOT = Path(__file__).resolve().parent.parent


def _request_path() -> list[str]:
    """setup.py's REQUEST_PATH, as module names (read, not run: running it builds)."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "REQUEST_PATH":
            paths = ast.literal_eval(node.value)
            return sorted("cams_server." + p.removesuffix(".py").replace("/", ".") for p in paths)
    raise AssertionError("setup.py has no REQUEST_PATH")


def _backend() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "cams_build", ROOT / "build_backend" / "cams_build.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_request_path_is_all_compiled_or_all_source() -> None:
    expected = _request_path()
    assert "cams_server.gateway.pipeline" in expected
    assert all((ROOT / "src" / (m.replace(".", "/") + ".py")).exists() for m in expected)
    # Told apart by the file imported, not by `compiled_modules`, which is what is tested.
    if not (pipeline.__file__ or "").endswith(".py"):
        assert compiled_modules() == expected
    else:
        assert compiled_modules() == []


def test_a_compiled_build_asks_for_the_mypy_the_suite_type_checks_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the backend adds to setuptools' own build requirements (setuptools' part runs
    setup.py, as pip runs it in a build environment of its own; not repeated here)."""
    backend = _backend()
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("CAMS_SERVER_COMPILE", raising=False)
    assert backend._compiler() == []
    monkeypatch.setenv("CAMS_SERVER_COMPILE", "1")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pinned = [r for r in project["optional-dependencies"]["test"] if r.startswith("mypy==")]
    assert len(pinned) == 1
    assert backend._compiler() == pinned
