"""The SDK code samples: generated from the metadata, and run against a real server.

A sample that does not run is a bug: the Python and Node samples the Explorer serves
are executed with the official SDKs, reading the AccessKey from the environment.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import httpx
import pytest

from cams_server.explorer.samples import (
    ENV_ACCESS_KEY_ID,
    ENV_ACCESS_KEY_SECRET,
    all_samples,
    cli_sample,
    go_sample,
    java_sample,
    parse_values,
)
from cams_server.rpc.catalog import Operation
from cams_server.rpc.catalog import load_metadata as load_catalog_metadata
from cams_server.server import implemented_catalog
from tests.explorer.conftest import Site
from tests.sdk.clients import KEYS

CATALOG = implemented_catalog()
NODE_DIR = Path(__file__).resolve().parents[1] / "sdk" / "node"
NODE_SDK = NODE_DIR / "node_modules" / "@alicloud" / "cams20200606"
SECRETS = [secret for _, secret in KEYS.values()]


def example_values(op: Operation) -> dict[str, str]:
    return {spec.name: spec.example for spec in op.parameters if spec.example}


def served_samples(site: Site, action: str, values: dict[str, str]) -> dict[str, str]:
    """The samples /explorer/samples serves for these values, by language."""
    answer = httpx.get(f"{site.url}/explorer/samples", params={"Action": action, **values})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["Endpoint"] == site.endpoint
    return {s["Language"]: s["Code"] for s in body["Samples"]}


def sdk_env(who: str) -> dict[str, str]:
    key_id, secret = KEYS[who]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
    return {**env, ENV_ACCESS_KEY_ID: key_id, ENV_ACCESS_KEY_SECRET: secret}


def run_python(code: str, who: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=sdk_env(who),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    reason = None
    if path is None:
        reason = "node is not on PATH"
    elif not NODE_SDK.is_dir():
        reason = f"{NODE_SDK} is missing: run `make node-deps`"
    if reason is not None:
        if "CI" in os.environ:
            pytest.fail(f"the Node sample cannot run in CI: {reason}")
        pytest.skip(reason)
    assert path is not None
    return path


# -- run against the server ------------------------------------------------------------


def test_python_sample_enables_roi_statistics(site: Site) -> None:
    code = served_samples(site, "EnableWhatsappROIMetric", {"CustSpaceId": "cams-acme-main"})
    done = run_python(code["python"], "acme-root")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["Code"] == "OK" and body["RequestId"]
    spaces = {e["space_id"] for e in site.server.enablements()}
    assert "cams-acme-main" in spaces


@pytest.mark.parametrize(
    ("action", "values"),
    [
        (
            "GetChatappTemplateMetric",
            {"TemplateCode": "welcome", "Start": "1693107714687", "End": "1693407714687"},
        ),
        (
            "GetChatappPhoneNumberMetric",
            {"Start": "1693107714687", "End": "1693407714687", "Granularity": "DAILY"},
        ),
    ],
)
def test_python_samples_of_the_metric_reads_run(
    site: Site, action: str, values: dict[str, str]
) -> None:
    done = run_python(served_samples(site, action, values)["python"], "acme-root")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["Code"] == "OK"
    assert isinstance(body["Data"], list)


def test_python_sample_surfaces_the_servers_error(site: Site) -> None:
    code = served_samples(site, "EnableWhatsappROIMetric", {"CustSpaceId": "cams-acme-main"})
    done = run_python(code["python"], "rita")
    assert done.returncode != 0
    assert "Ram.PermissionDeny" in done.stderr


def test_node_sample_enables_roi_statistics(site: Site, node: str, tmp_path: Path) -> None:
    code = served_samples(site, "EnableWhatsappROIMetric", {"CustSpaceId": "cams-acme-main"})
    script = tmp_path / "sample.js"
    script.write_text(code["node"])
    done = subprocess.run(
        [node, str(script)],
        env={**sdk_env("olga"), "NODE_PATH": str(NODE_DIR / "node_modules")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["Code"] == "OK" and body["RequestId"]


def test_node_sample_reports_errors(site: Site, node: str, tmp_path: Path) -> None:
    code = served_samples(site, "EnableWhatsappROIMetric", {"CustSpaceId": "cams-globex-main"})
    script = tmp_path / "sample.js"
    script.write_text(code["node"])
    done = subprocess.run(
        [node, str(script)],
        env={**sdk_env("acme-root"), "NODE_PATH": str(NODE_DIR / "node_modules")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("Unknown.ResourceOwnerId:")


# -- the text of every sample ----------------------------------------------------------


@pytest.mark.parametrize("op", list(CATALOG), ids=lambda op: op.name)
def test_samples_read_keys_from_the_environment_and_never_hold_a_secret(op: Operation) -> None:
    values = parse_values(op, example_values(op))
    for sample in all_samples(op, values, "127.0.0.1:18080"):
        code = sample.code
        assert op.name in code
        assert "127.0.0.1:18080" in code
        if sample.language != "cli":  # the CLI reads them itself; its sample names them
            assert re.search(rf"\b{ENV_ACCESS_KEY_ID}\b", code)
        assert ENV_ACCESS_KEY_ID in code and ENV_ACCESS_KEY_SECRET in code
        for secret in SECRETS:
            assert secret not in code
        for value in values.values():
            literals = {
                str(value),
                json.dumps(str(value), ensure_ascii=False),
                shlex.quote(str(value)),
            }
            assert any(literal in code for literal in literals), (sample.language, value)


def test_java_go_and_cli_samples() -> None:
    op = CATALOG.get("GetChatappTemplateMetric")
    values = parse_values(op, {"TemplateCode": "welcome", "Start": "1693107714687"})
    java = java_sample(op, values, "cams.example:8080", "https")
    assert "client.getChatappTemplateMetric(request)" in java
    assert '.setTemplateCode("welcome")' in java and ".setStart(1693107714687L)" in java
    assert '.setEndpoint("cams.example:8080")' in java and '.setProtocol("https")' in java
    assert f'System.getenv("{ENV_ACCESS_KEY_SECRET}")' in java

    go = go_sample(op, values, "cams.example:8080", "https")
    assert 'cams20200606 "github.com/alibabacloud-go/cams-20200606/v5/client"' in go
    assert 'TemplateCode: tea.String("welcome"),' in go and "Start:        tea.Int64(" in go
    assert "client.GetChatappTemplateMetric(request)" in go
    assert f'os.Getenv("{ENV_ACCESS_KEY_ID}")' in go

    cli = cli_sample(op, values, "cams.example:8080", "https")
    assert "aliyun cams GetChatappTemplateMetric" in cli
    assert "--endpoint cams.example:8080" in cli and "--insecure" not in cli
    assert "--TemplateCode welcome" in cli and "--Start 1693107714687" in cli
    plain = cli_sample(op, parse_values(op, {"TemplateCode": "it's; rm -rf /"}), "h:1", "http")
    assert "--insecure" in plain
    assert "--TemplateCode 'it'\"'\"'s; rm -rf /'" in plain  # shell-quoted


def test_operations_without_parameters_call_without_a_request() -> None:
    op = CATALOG.get("GetCallerIdentity")
    samples = {s.language: s.code for s in all_samples(op, {}, "127.0.0.1:1", "https")}
    assert "client.get_caller_identity()" in samples["python"]
    assert "await client.getCallerIdentity();" in samples["node"]
    assert "client.getCallerIdentity();" in samples["java"]
    assert "client.GetCallerIdentity()" in samples["go"]


@pytest.mark.parametrize("op", list(CATALOG), ids=lambda op: op.name)
def test_python_samples_name_what_the_installed_sdk_has(op: Operation) -> None:
    """Method, request class and field names as the official Python SDK spells them."""
    values = parse_values(op, example_values(op))
    code = next(s.code for s in all_samples(op, values, "h:1") if s.language == "python")
    compile(code, "sample.py", "exec")
    package = f"alibabacloud_{op.product}{op.version.replace('-', '')}"
    client = import_module(f"{package}.client").Client
    method = re.search(r"client\.(\w+)\(", code)
    assert method is not None and hasattr(client, method.group(1))
    if op.parameters:
        request = getattr(import_module(f"{package}.models"), f"{op.name}Request")
        accepted = set(inspect.signature(request.__init__).parameters)
        used = re.findall(r"^    (\w+)=", code.split("request = ", 1)[1], re.M)
        assert used and set(used) <= accepted


@pytest.mark.parametrize(
    "op", [op for op in CATALOG if op.product == "cams"], ids=lambda op: op.name
)
def test_node_samples_name_what_the_installed_sdk_has(op: Operation, node: str) -> None:
    declarations = (NODE_SDK / "dist" / "client.d.ts").read_text()
    common = {
        p["name"]
        for p in load_catalog_metadata("cams_server.cams", "cams-2020-06-06-metadata.json")[
            "commonParameters"
        ]
    }
    values = parse_values(op, example_values(op))
    code = next(s.code for s in all_samples(op, values, "h:1") if s.language == "node")
    method = re.search(r"await client\.(\w+)\(", code)
    assert method is not None and f" {method.group(1)}(request: {op.name}Request)" in declarations
    model = re.search(
        rf"class {op.name}Request extends \$tea\.Model \{{(.*?)static names", declarations, re.S
    )
    assert model is not None
    fields = set(re.findall(r"(\w+)\?:", model.group(1)))
    used = re.findall(r"^    (\w+): ", code, re.M)
    own = {
        spec.name[:1].lower() + spec.name[1:] for spec in op.parameters if spec.name not in common
    }
    assert own <= set(used) and own <= fields
    checked = subprocess.run(
        [node, "--check", "-"], input=code, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
