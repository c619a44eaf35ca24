"""Which build of cams_server the suite runs against: the source, or the release build
(`make test-release`: PYTHONPATH=build/release, the request path compiled with mypyc).

A few unit tests replace a method of an object, or stand in for one of its arguments with
an object of another type. A compiled class allows neither (its methods are fixed, and
it checks its arguments' declared types), so those tests run on the source build only.
"""

from __future__ import annotations

from types import ModuleType

import pytest

from cams_server.serving import compiled_modules

__all__ = ["compiled", "source_only"]


def compiled(module: ModuleType) -> bool:
    """Whether `module` was imported from a compiled extension, not from its source."""
    return module.__name__ in compiled_modules()


def source_only(module: ModuleType) -> pytest.MarkDecorator:
    """Skip the test where `module` is compiled: it replaces or stands in for its types."""
    return pytest.mark.skipif(
        compiled(module),
        reason=f"{module.__name__} is compiled (release build): the test replaces or "
        "stands in for what a compiled class fixes",
    )
