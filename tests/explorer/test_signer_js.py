"""The Explorer's browser signer (static/explorer.js) against gateway/signing.py.

Run under Node, which loads the same file the browser does: its canonical request,
string to sign and signature must equal the server's, with Web Crypto and with the
page's own SHA-256 (used where the page is not a secure context).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
from importlib import resources
from typing import Any

import pytest

from cams_server.wire.signing import (
    EMPTY_SHA256,
    v3_canonical_request,
    v3_signature,
    v3_string_to_sign,
)

SCRIPT = str(resources.files("cams_server.explorer").joinpath("static", "explorer.js"))

RUNNER = """
const api = require(process.argv[1]);
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
(async () => {
  const out = { requests: [], hashes: [], hmacs: [], encoded: [], invalid: [] };
  for (const vector of input.requests) {
    const row = {};
    for (const noWebCrypto of [false, true]) {
      const signed = await api.signRequest({ ...vector, noWebCrypto });
      row[noWebCrypto ? 'fallback' : 'webcrypto'] = signed;
    }
    out.requests.push(row);
  }
  for (const text of input.hashes) {
    out.hashes.push([await api.sha256Hex(text), await api.sha256Hex(text, { noWebCrypto: true })]);
  }
  for (const [key, text] of input.hmacs) {
    out.hmacs.push([
      await api.hmacSha256Hex(key, text),
      await api.hmacSha256Hex(key, text, { noWebCrypto: true }),
    ]);
  }
  out.encoded = input.encode.map(api.percentEncode);
  out.invalid = input.validate.map(([spec, raw]) => api.validateValue(spec, raw));
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(2); });
"""

PARAMS: list[list[list[str]]] = [
    [],
    [["CustSpaceId", "cams-acme-main"]],
    [["IsvCode", "a b+c&d=e"], ["CustSpaceId", "x"], ["OwnerId", "1000000000000001"]],
    [["Policy", '{"Statement": [{"Action": ["*"]}]}'], ["RoleSessionName", "alice.b@c-d_e"]],
    [["TemplateCode", "!'()*~-_.%/?#[]"], ["Language", "中文 ✓ 😀"]],
    [["Zeta", ""], ["Alpha", "1"], ["alpha", "2"], ["Beta", "ß"]],
]


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        if "CI" in os.environ:
            pytest.fail("node is not on PATH, and CI must run the browser signer's tests")
        pytest.skip("node is not on PATH")
    return path


def run_js(node: str, payload: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [node, "-e", RUNNER, SCRIPT],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_signatures_match_the_server(node: str) -> None:
    vectors = []
    for i, params in enumerate(PARAMS):
        vectors.append(
            {
                "method": "POST" if i % 2 else "GET",
                "host": "127.0.0.1:18080" if i % 3 else "cams.example.com",
                "action": "EnableWhatsappROIMetric",
                "version": "2020-06-06",
                "params": params,
                "accessKeyId": "LTAI5tAcmeRoot000001",
                "accessKeySecret": "acme-root-secret" if i % 2 else "sécret with spaces ",
                "securityToken": "CAIS.token+/=" if i == 3 else "",
                "date": "2026-11-27T11:55:26Z",
                "nonce": f"nonce-{i}",
            }
        )
    out = run_js(
        node, {"requests": vectors, "hashes": [], "hmacs": [], "encode": [], "validate": []}
    )
    for vector, row in zip(vectors, out["requests"], strict=True):
        headers = {
            "host": [vector["host"]],
            "x-acs-action": [vector["action"]],
            "x-acs-content-sha256": [EMPTY_SHA256],
            "x-acs-date": [vector["date"]],
            "x-acs-signature-nonce": [vector["nonce"]],
            "x-acs-version": [vector["version"]],
        }
        if vector["securityToken"]:
            headers["x-acs-security-token"] = [vector["securityToken"]]
        signed = sorted(headers)
        query = [(k, v) for k, v in vector["params"]]
        canonical = v3_canonical_request(
            vector["method"], "/", query, headers, signed, EMPTY_SHA256
        )
        string_to_sign = v3_string_to_sign(canonical)
        signature = v3_signature(vector["accessKeySecret"], string_to_sign)
        for result in (row["webcrypto"], row["fallback"]):
            assert result["canonicalRequest"] == canonical
            assert result["stringToSign"] == string_to_sign
            assert result["signature"] == signature
            assert result["authorization"] == (
                f"ACS3-HMAC-SHA256 Credential={vector['accessKeyId']},"
                f"SignedHeaders={';'.join(signed)},Signature={signature}"
            )
            assert "host" not in result["headers"]  # the browser sends its own
            assert result["headers"]["x-acs-date"] == vector["date"]
            # The query sent is the canonical one, which the server decodes back.
            assert result["path"] == "/" + (
                "?" + canonical.split("\n")[2] if canonical.split("\n")[2] else ""
            )


def test_the_pages_sha256_and_hmac_match_hashlib(node: str) -> None:
    texts = ["", "abc", "a" * 55, "b" * 56, "c" * 63, "d" * 64, "e" * 65, "中文" * 200, "x" * 5000]
    keys = ["", "k", "k" * 64, "k" * 65, "秘密" * 40]
    pairs = [[key, text] for key in keys for text in texts[:5]]
    out = run_js(
        node, {"requests": [], "hashes": texts, "hmacs": pairs, "encode": [], "validate": []}
    )
    for text, (web, fallback) in zip(texts, out["hashes"], strict=True):
        expected = hashlib.sha256(text.encode()).hexdigest()
        assert web == expected and fallback == expected
    for (key, text), (web, fallback) in zip(pairs, out["hmacs"], strict=True):
        expected = hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()
        assert web == expected and fallback == expected


def test_percent_encoding_and_validation(node: str) -> None:
    from cams_server.wire.signing import percent_encode

    samples = ["a b", "+", "~", "!'()*", "é", "😀", "/?#[]@", "-_."]
    integer64 = {"name": "Start", "type": "integer", "format": "int64", "required": True}
    integer32 = {"name": "N", "type": "integer", "format": "int32", "required": False}
    choice = {"name": "G", "type": "string", "required": False, "enum": ["DAILY", "HALF_HOUR"]}
    text = {"name": "T", "type": "string", "required": False, "maxLength": 3}
    validate = [
        [integer64, ""],
        [integer64, "1693107714687"],
        [integer64, "9223372036854775808"],
        [integer64, "12a"],
        [integer32, "2147483648"],
        [integer32, ""],
        [choice, "WEEKLY"],
        [choice, "DAILY"],
        [text, "abcd"],
        [text, "a\tb"],
    ]
    out = run_js(
        node, {"requests": [], "hashes": [], "hmacs": [], "encode": samples, "validate": validate}
    )
    assert out["encoded"] == [percent_encode(s) for s in samples]
    assert [problem is None for problem in out["invalid"]] == [
        False, True, False, False, False, True, False, True, False, False
    ]  # fmt: skip
