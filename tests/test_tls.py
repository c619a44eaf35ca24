"""`cams-server serve` over HTTPS: --tls self-signed, and --tls-cert/--tls-key."""

from __future__ import annotations

import os
import select
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

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
