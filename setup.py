"""Compiles the request path with mypyc when CAMS_SERVER_COMPILE=1 (see build_backend/).

Everything else about the package is in pyproject.toml. The default build, and every
editable install, is pure Python: a compiled module beside its source would be imported
instead of it, so an edit would not take effect until the next build (bench/README.md,
"The release build"). The modules below are what every API call runs through, typed
end to end with our own types; a module that handles objects typed by another library
(SQLAlchemy rows, redis-py replies) stays Python, since mypyc checks declared types at
run time and a third-party stub that says less than the truth would fail there.
"""

from __future__ import annotations

import os
from importlib.util import find_spec

from setuptools import setup

REQUEST_PATH = [
    "clock.py",
    "wire/request.py",
    "wire/signing.py",
    "wire/encoding.py",
    "ram/directory.py",
    "ram/credentials.py",
    "ram/evaluation.py",
    "store/world_cache.py",
    "rpc/caller.py",
    "rpc/catalog.py",
    "rpc/context.py",
    "rpc/operations.py",
    "rpc/access.py",
    "cams/access.py",
    "cams/roi.py",
    "gateway/flow.py",
    "gateway/nonces.py",
    "gateway/guard.py",
    "gateway/auth.py",
    "gateway/pipeline.py",
    "gateway/routes.py",
    "gateway/calls.py",
    "gateway/metrics.py",
    "gateway/asgi.py",
    "gateway/protocol.py",
]

# Without mypyc this runs only while pip asks the backend what the build needs (it runs
# this file to find out, before it installs mypy); the backend refuses to build a wheel
# without it when compiling was asked for.
if os.environ.get("CAMS_SERVER_COMPILE") == "1" and find_spec("mypyc") is not None:
    from mypyc.build import mypycify

    setup(ext_modules=mypycify([f"src/cams_server/{path}" for path in REQUEST_PATH]))
else:
    setup()
