"""The build backend: setuptools, plus mypy when the request path is to be compiled.

`CAMS_SERVER_COMPILE=1 pip install .` (or `pip wheel .`) compiles the modules `setup.py`
lists with mypyc, which ships inside mypy: setuptools' documented way to add a build
dependency only when it is needed ("Dynamic build dependencies" in its build_meta guide).
The pure-Python build, and every editable install, needs no compiler and no mypy. The
mypy release is the one `make test` type-checks with (the `test` extra), read from
pyproject.toml so that the pin lives in one place.
"""

from __future__ import annotations

import os
import tomllib
from importlib.util import find_spec
from pathlib import Path

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (the rest of the backend, unchanged)

COMPILE = "CAMS_SERVER_COMPILE"


def _compiler() -> list[str]:
    if os.environ.get(COMPILE) != "1":
        return []
    project = tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [req for req in project["optional-dependencies"]["test"] if req.startswith("mypy==")]


def get_requires_for_build_wheel(
    config_settings: dict[str, str | list[str]] | None = None,
) -> list[str]:
    return _setuptools.get_requires_for_build_wheel(config_settings) + _compiler()


def build_wheel(
    wheel_directory: str,
    config_settings: dict[str, str | list[str]] | None = None,
    metadata_directory: str | None = None,
) -> str:
    if os.environ.get(COMPILE) == "1" and find_spec("mypyc") is None:
        raise SystemExit(f"{COMPILE}=1: the build needs mypy (its mypyc), and it is missing")
    return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
