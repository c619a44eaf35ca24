"""`cams-server` as a child process on a home of the test's: the one helper the tests run
the command line with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["CLI", "run_cli"]

CLI = [sys.executable, "-m", "cams_server.cli"]


def run_cli(home: Path, *args: str, clean: bool = False) -> subprocess.CompletedProcess[str]:
    """`cams-server ARGS` with CAMS_HOME=home; `clean` drops every other CAMS_* variable."""
    env = {k: v for k, v in os.environ.items() if not (clean and k.startswith("CAMS_"))}
    env["CAMS_HOME"] = str(home)
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
