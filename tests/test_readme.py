"""The README's examples work as written: every code block marked `<!-- readme-test -->`
(or `<!-- readme-test: tls -->`) runs against a fresh server with the demo world.

What a reader replaces by hand is replaced here the same way: the endpoint
`127.0.0.1:18080` by the server's, and `<secret of KEY_ID>` by that key's secret (which
`make run` prints). A block runs by its language: `python` and `js` (the official SDKs,
Node's from tests/sdk/node) as programs, `sh` in bash with the venv's `cams-server` on
the PATH, `json` lines through `cams-server events import`, `toml` through
`cams-server world apply` into a home of its own (it declares other accounts).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cams_server.testing import CamsServer
from tests.cli_runner import CLI

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
NODE_MODULES = ROOT / "tests" / "sdk" / "node" / "node_modules"
BLOCK = re.compile(
    r"<!-- readme-test(?:: (?P<mode>\w+))? -->\n```(?P<language>\w+)\n(?P<code>.*?)\n```", re.S
)
SECRET = re.compile(r"<secret of (\w+)>")
README_ENDPOINT = "127.0.0.1:18080"


@dataclass(frozen=True)
class Example:
    line: int
    language: str
    mode: str
    code: str

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.language})"


def examples() -> list[Example]:
    text = README.read_text(encoding="utf-8")
    return [
        Example(
            text.count("\n", 0, m.start()) + 1,
            m.group("language"),
            m.group("mode") or "http",
            m.group("code"),
        )
        for m in BLOCK.finditer(text)
    ]


def test_the_readme_marks_its_examples() -> None:
    marked = {e.language for e in examples()}
    assert {"python", "js", "json", "toml", "sh"} <= marked, marked


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, CamsServer]]:
    with (
        CamsServer(demo=True, mode="process") as plain,
        CamsServer(demo=True, mode="process", tls=True) as tls,
    ):
        yield {"http": plain, "tls": tls}


def _filled(example: Example, server: CamsServer) -> str:
    keys = server.access_keys()
    code = example.code.replace(README_ENDPOINT, server.endpoint)
    return SECRET.sub(lambda m: keys[m.group(1)], code)


@pytest.mark.parametrize("example", examples(), ids=str)
def test_a_readme_example_runs(
    example: Example, servers: dict[str, CamsServer], tmp_path: Path
) -> None:
    server = servers[example.mode]
    env = {
        **os.environ,
        "CAMS_HOME": str(server.home),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    if server.ca_file is not None:
        env["SSL_CERT_FILE"] = str(server.ca_file)
    code = _filled(example, server)
    if example.language == "python":
        command = [sys.executable, "-c", code]
    elif example.language == "js":
        if not (NODE_MODULES / "@alicloud" / "cams20200606").exists():
            pytest.skip(f"{NODE_MODULES} is missing: run `make node-deps`")
        env["NODE_PATH"] = str(NODE_MODULES)
        command = [shutil.which("node") or "node", "-e", code]
    elif example.language == "sh":
        command = ["bash", "-euo", "pipefail", "-c", code]
    elif example.language == "json":
        records = tmp_path / "events.jsonl"
        records.write_text(code + "\n", encoding="utf-8")
        command = [*CLI, "events", "import", str(records)]
    elif example.language == "toml":
        world = tmp_path / "world.toml"
        world.write_text(code + "\n", encoding="utf-8")
        env["CAMS_HOME"] = str(tmp_path / "home")  # its own accounts: not the demo server's
        command = [*CLI, "world", "apply", str(world)]
    else:
        pytest.fail(f"{example}: no way to run a {example.language} block")
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path
    )
    assert result.returncode == 0, f"{example} failed:\n{result.stdout}\n{result.stderr}"
