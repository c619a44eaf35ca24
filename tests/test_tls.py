"""`cams-server serve` over HTTPS: --tls self-signed, and --tls-cert/--tls-key."""

from __future__ import annotations

import os
import select
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from cams_server.tls import ensure_self_signed

CLI = [sys.executable, "-m", "cams_server.cli"]


@contextmanager
def serving(home: Path, *flags: str) -> Iterator[list[str]]:
    env = {**os.environ, "CAMS_HOME": str(home)}
    process = subprocess.Popen(
        [*CLI, "serve", "--port", "0", "--no-demo", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    try:
        while not any("listening on" in line for line in lines):
            ready, _, _ = select.select(
                [process.stdout], [], [], max(deadline - time.monotonic(), 0)
            )
            assert ready, "the server did not start"
            lines.append(process.stdout.readline().decode())
        if "self-signed" in flags:
            lines.append(process.stdout.readline().decode())
        yield lines
    finally:
        process.terminate()
        process.wait(15)
        process.stdout.close()


def test_self_signed_tls_prints_how_to_trust_it(tmp_path: Path) -> None:
    with serving(tmp_path, "--tls", "self-signed") as lines:
        url = lines[0].strip().rsplit(" ", 1)[1]
        assert url.startswith("https://127.0.0.1:")
        ca = tmp_path / "tls" / "ca.pem"
        assert f"SSL_CERT_FILE={ca}" in lines[1]
        response = httpx.get(
            f"{url}/_cams/health", verify=ssl.create_default_context(cafile=str(ca))
        )
        assert response.status_code == 200


def test_own_certificate_and_key(tmp_path: Path) -> None:
    files = ensure_self_signed(tmp_path / "mine")
    assert files.ca is not None
    with serving(
        tmp_path / "home", "--tls-cert", str(files.cert), "--tls-key", str(files.key)
    ) as lines:
        url = lines[0].strip().rsplit(" ", 1)[1]
        assert url.startswith("https://")
        assert (
            httpx.get(
                f"{url}/_cams/health", verify=ssl.create_default_context(cafile=str(files.ca))
            ).status_code
            == 200
        )


def test_cert_without_key_is_refused(tmp_path: Path) -> None:
    files = ensure_self_signed(tmp_path / "mine")
    result = subprocess.run(
        [*CLI, "serve", "--port", "0", "--tls-cert", str(files.cert)],
        capture_output=True,
        text=True,
        env={**os.environ, "CAMS_HOME": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "--tls-cert and --tls-key go together" in result.stderr


def test_tls_files_are_created_private_with_no_chmod_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the usual umask the key files are 0600 from the moment they exist: created
    with that mode (os.open), never written first and chmod-ed after."""

    def no_chmod(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a file was chmod-ed after it was written")

    home = tmp_path / "home"
    previous = os.umask(0o022)
    try:
        with monkeypatch.context() as patched:
            patched.setattr(os, "chmod", no_chmod)
            patched.setattr(Path, "chmod", no_chmod)
            files = ensure_self_signed(home)
    finally:
        os.umask(previous)
    assert files.ca is not None
    for path in (files.key, files.cert, files.ca, home / "tls" / "ca-key.pem"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for directory in (home, home / "tls"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert sorted(p.name for p in (home / "tls").iterdir()) == [
        "ca-key.pem",
        "ca.pem",
        "server-key.pem",
        "server.pem",
    ]  # no temporary file left behind

    # A key an older version left readable is tightened when it is next used.
    files.key.chmod(0o644)
    assert ensure_self_signed(home) == files
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
