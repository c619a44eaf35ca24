"""The `cams-server` command line: help, world apply/export, serve."""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cams_server.cli import cli as main_group
from cams_server.world.toml_file import load_world, parse_world
from tests.cli_runner import CLI, run_cli

WORLDS = Path(__file__).parent / "worlds"

GOOD_WORLD = """\
region = "ap-southeast-1"

[[accounts]]
id = "4000000000000004"
name = "hooli"
cams = true

  [[accounts.access_keys]]
  id = "LTAI5tHooliRoot00001"
  secret = "hooli-root-secret"

  [[accounts.policies]]
  name = "RoiOnly"
  document = '@ROI_ONLY@'

  [[accounts.users]]
  name = "gavin"
  policies = ["RoiOnly"]
    [[accounts.users.access_keys]]
    id = "LTAI5tHooliGavin0001"
    secret = "gavin-secret"

  [[accounts.spaces]]
  id = "cams-hooli-main"

  [[accounts.spaces]]
  id = "cams-hooli-cust-1"
  isv_customer = "Pied Piper"
""".replace(
    "@ROI_ONLY@",
    '{"Version":"1","Statement":[{"Effect":"Allow",'
    '"Action":"cams:EnableWhatsappROIMetric","Resource":"*"}]}',
)

# Each bad world changes something real (the account's name) besides its one mistake,
# so a half-applied file would show in the export.
RENAMED = GOOD_WORLD.replace('name = "hooli"', 'name = "hooli-renamed"')
BAD_WORLDS = {
    "unknown-key": (
        RENAMED.replace('  name = "gavin"\n', '  name = "gavin"\n  colour = "blue"\n'),
        "accounts[0].users[0].colour",
    ),
    "duplicate-id": (
        RENAMED.replace('id = "cams-hooli-cust-1"', 'id = "cams-hooli-main"'),
        "accounts[0].spaces[1].id",
    ),
    "undeclared-policy": (
        RENAMED.replace('policies = ["RoiOnly"]', 'policies = ["NoSuchPolicy"]'),
        "accounts[0].users[0].policies[0]",
    ),
    "invalid-policy-json": (
        RENAMED.replace(
            """document = '{"Version":"1","Statement":""",
            """document = '{"Version":"1","Statement":,""",
        ),
        "accounts[0].policies[0].document",
    ),
    # A space id already held by an account the file does not declare.
    "space-of-another-account": (
        RENAMED
        + """
[[accounts]]
id = "5000000000000005"
name = "thief"
  [[accounts.spaces]]
  id = "cams-hooli-other"
  [[accounts.spaces]]
  id = "cams-acme-main"
""",
        "accounts[1].spaces[1].id",
    ),
}


cli = run_cli


def export(home: Path) -> str:
    result = cli(home, "world", "export")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_top_level_help(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("cams-server")
    command = [str(script)] if script.exists() else CLI
    result = subprocess.run(
        [*command, "--help"],
        env={**os.environ, "CAMS_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: cams-server")
    for command_name in ("serve", "world", "roi"):
        assert re.search(rf"^\s+{command_name}\b", result.stdout, re.MULTILINE), result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["serve"],
        ["world"],
        ["world", "apply"],
        ["world", "export"],
        ["roi"],
        ["roi", "list"],
    ],
    ids=" ".join,
)
def test_subcommand_help(tmp_path: Path, args: list[str]) -> None:
    # In process: the same click command the console script runs, without the start-up cost.
    result = CliRunner().invoke(
        main_group, [*args, "--help"], prog_name="cams-server", env={"CAMS_HOME": str(tmp_path)}
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: cams-server {' '.join(args)}")
    assert len(result.output.splitlines()) > 3


def test_serve_help_documents_the_contract_options() -> None:
    result = CliRunner().invoke(main_group, ["serve", "--help"], prog_name="cams-server")
    for option in ("--host", "--port", "--database", "--redis", "--world", "--workers"):
        assert option in result.output


def test_world_apply_then_export_round_trips(tmp_path: Path, rich_world: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    applied = cli(first, "world", "apply", str(rich_world))
    assert applied.returncode == 0, applied.stderr
    exported = export(first)
    assert "cams-acme-cust-1" in exported and "alice-expired-code" in exported
    exported_file = tmp_path / "exported.toml"
    exported_file.write_text(exported)
    again = cli(second, "world", "apply", str(exported_file))
    assert again.returncode == 0, again.stderr
    assert export(second) == exported
    # The export declares the same world as the file it came from.
    assert parse_world(exported, "<export>") == load_world(rich_world)


def test_roi_list_of_a_fresh_home_is_empty(tmp_path: Path) -> None:
    result = cli(tmp_path, "roi", "list")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


@pytest.fixture(scope="module")
def good_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A home holding GOOD_WORLD and rich.toml, and its export."""
    root = tmp_path_factory.mktemp("cli-good")
    world = root / "good.toml"
    world.write_text(GOOD_WORLD)
    home = root / "home"
    for file in (world, WORLDS / "rich.toml"):
        applied = cli(home, "world", "apply", str(file))
        assert applied.returncode == 0, applied.stderr
    yield home, export(home)


@pytest.mark.parametrize("case", list(BAD_WORLDS))
def test_world_apply_refuses_a_bad_file(
    tmp_path: Path, good_home: tuple[Path, str], case: str
) -> None:
    home, before = good_home
    text, path = BAD_WORLDS[case]
    bad = tmp_path / f"{case}.toml"
    bad.write_text(text)
    result = cli(home, "world", "apply", str(bad))
    assert result.returncode != 0
    assert str(bad) in result.stderr
    assert path in result.stderr
    assert "Traceback" not in result.stderr
    assert export(home) == before


def test_world_apply_of_a_missing_file_fails(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    result = cli(tmp_path / "home", "world", "apply", str(missing))
    assert result.returncode != 0
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_on_port_zero_prints_where_it_listens(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*CLI, "serve", "--port", "0"],
        env={**os.environ, "CAMS_HOME": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "no output within 30 s"
        line = process.stdout.readline()
        match = re.fullmatch(r"cams-server listening on http://127\.0\.0\.1:(\d+)\n", line)
        assert match, repr(line)
        port = int(match.group(1))
        assert port > 0
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        process.terminate()
        process.wait(15)
        if process.stdout is not None:
            process.stdout.close()


# Valid, but its Resource names a space: this server authorizes CAMS on the account.
SPACE_SCOPED_WORLD = GOOD_WORLD.replace(
    '"Resource":"*"', '"Resource":"acs:cams:*:*:space/cams-hooli-main"'
)
SPACE_SCOPED_WARNING = (
    "accounts[0].policies[0].document: Statement[0].Resource: "
    "'acs:cams:*:*:space/cams-hooli-main' in policy 'RoiOnly' of account 4000000000000004 "
    "can never match, so the statement never applies: this server authorizes CAMS actions on "
    "acs:cams:ap-southeast-1:4000000000000004:*"
)


def policy_warnings(stderr: str) -> list[str]:
    """The world's warnings (a new home's first command also notes its new master key)."""
    return [line for line in stderr.splitlines() if line.startswith("warning: ")]


def test_world_apply_warns_on_stderr_and_applies(tmp_path: Path) -> None:
    world = tmp_path / "scoped.toml"
    world.write_text(SPACE_SCOPED_WORLD)
    result = cli(tmp_path / "home", "world", "apply", str(world))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"applied {world}: 1 account(s)\n"
    (line,) = policy_warnings(result.stderr)
    assert line.startswith(f"warning: {world}: {SPACE_SCOPED_WARNING}"), line
    assert "space/cams-hooli-main" in export(tmp_path / "home")


def test_world_apply_of_a_world_without_surprises_prints_no_warning(tmp_path: Path) -> None:
    world = tmp_path / "good.toml"
    world.write_text(GOOD_WORLD)
    result = cli(tmp_path / "home", "world", "apply", str(world))
    assert result.returncode == 0, result.stderr
    assert policy_warnings(result.stderr) == []


def test_serve_with_a_world_logs_its_warnings(tmp_path: Path) -> None:
    world = tmp_path / "scoped.toml"
    world.write_text(SPACE_SCOPED_WORLD)
    process = subprocess.Popen(
        [*CLI, "serve", "--port", "0", "--world", str(world)],
        env={**os.environ, "CAMS_HOME": str(tmp_path / "home")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "no output within 30 s"
        assert "listening on" in process.stdout.readline()
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    warnings = [line for line in stderr.splitlines() if SPACE_SCOPED_WARNING in line]
    assert len(warnings) == 1, stderr
    assert "WARNING" in warnings[0] and str(world) in warnings[0]


# -- failures are one line and an exit status, never a traceback ---------------------------


@pytest.mark.parametrize(
    ("args", "status", "said"),
    [
        (["serve", "--redis", "notaurl"], 2, "--redis 'notaurl' is not a URL"),
        (["serve", "--port", "99999"], 2, "99999 is not in the range 0<=x<=65535"),
        (["serve", "--trusted-proxy", "not-an-ip"], 2, "'not-an-ip' is not an IP address"),
        (
            ["serve", "--graph-api-url", "ftp://x", "--graph-api-token", "t"],
            2,
            "--graph-api-url 'ftp://x' is not a URL",
        ),
    ],
)
def test_serve_refuses_unusable_options_at_start(
    tmp_path: Path, args: list[str], status: int, said: str
) -> None:
    result = cli(tmp_path, *args, "--no-demo")
    assert result.returncode == status, result.stderr
    assert said in result.stderr
    assert "Traceback" not in result.stderr
    assert "listening" not in result.stdout


@pytest.mark.parametrize(
    "args", [["roi", "list"], ["world", "export"], ["keys", "rotate"], ["serve", "--port", "0"]]
)
def test_an_unusable_home_is_one_line_and_exit_1(tmp_path: Path, args: list[str]) -> None:
    """CAMS_HOME under a plain file (as root, the way to make a home nobody can create)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = cli(blocker / "home", *args)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert str(blocker / "home") in line and "CAMS_HOME must be a directory" in line


def test_serve_says_at_start_when_redis_is_unreachable(tmp_path: Path) -> None:
    """It starts all the same (calls fail closed until Redis answers): the warning comes
    before the listening line."""
    env = {**os.environ, "CAMS_HOME": str(tmp_path)}
    process = subprocess.Popen(
        [*CLI, "serve", "--port", "0", "--no-demo", "--redis", "redis://127.0.0.1:1/0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None and process.stdout is not None
        assert "listening on" in process.stdout.readline()
        process.terminate()
        said = process.stderr.read()
        (warning,) = [line for line in said.splitlines() if "Redis" in line]
        assert "Redis at redis://127.0.0.1:1/0 is unreachable now" in warning
        assert "ServiceUnavailable" in warning
    finally:
        process.terminate()
        process.wait(10)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def test_version_and_the_license_match_the_package() -> None:
    from importlib.metadata import metadata

    result = subprocess.run([*CLI, "--version"], capture_output=True, text=True, check=False)
    assert result.stdout.strip() == f"cams-server, version {metadata('cams-server')['Version']}"
    assert metadata("cams-server")["License-Expression"] == "Apache-2.0"
    license_text = (Path(__file__).parents[1] / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text


def test_shell_completion_is_generated() -> None:
    env = {**os.environ, "_CAMS_SERVER_COMPLETE": "bash_source"}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cams-server"))],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "_cams_server_completion" in result.stdout


def test_the_demo_prints_a_console_token_for_the_run(tmp_path: Path) -> None:
    """`make run`'s demo opens its ROI console at once: a token for this run only is
    printed with the demo's keys; it opens the console's admin endpoints."""
    import time

    import httpx

    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMS_")}
    env["CAMS_HOME"] = str(tmp_path)
    process = subprocess.Popen(
        [*CLI, "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while not any("admin token" in line for line in lines):
            assert time.monotonic() < deadline and process.poll() is None, lines
            lines.append(process.stdout.readline())
        url = lines[0].strip().rsplit(" ", 1)[1]
        assert any(f"{url}/console" in line for line in lines)
        (token,) = [line.split()[2] for line in lines if "admin token" in line]
        now = int(time.time() * 1000)
        range_ = {"Start": now - 86_400_000, "End": now}
        opened = httpx.get(
            f"{url}/_cams/console/enablements",
            params=range_,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert opened.status_code == 200, opened.text
        assert [e["space_id"] for e in opened.json()["Enablements"]] == ["cams-demo-main"]
        refused = httpx.get(
            f"{url}/_cams/console/enablements",
            params=range_,
            headers={"Authorization": "Bearer guess"},
            timeout=30,
        )
        assert refused.status_code == 401
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
