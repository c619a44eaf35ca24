"""SDK code samples for one call, generated from the operation's metadata.

Pure functions: an `Operation`, the call's parameter values and this server's
endpoint in, source text out. Every sample reads the AccessKey from the standard
environment variables (never embedding a secret) and points the official SDK at
`endpoint`. Names follow the code generators of Alibaba's SDKs: the Python SDK
snake-cases (`EnableWhatsappROIMetric` -> `enable_whatsapp_roimetric`,
`CustSpaceId` -> `cust_space_id`), Node and Java lower the first letter, Go keeps
the metadata's names.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cams_server.rpc.catalog import Operation, ParameterSpec

__all__ = [
    "ENV_ACCESS_KEY_ID",
    "ENV_ACCESS_KEY_SECRET",
    "ENV_SECURITY_TOKEN",
    "LANGUAGES",
    "Sample",
    "all_samples",
    "cli_sample",
    "go_sample",
    "java_sample",
    "node_sample",
    "parse_values",
    "python_sample",
]

ENV_ACCESS_KEY_ID = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ENV_ACCESS_KEY_SECRET = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"  # noqa: S105 (a variable's name)
ENV_SECURITY_TOKEN = "ALIBABA_CLOUD_SECURITY_TOKEN"  # noqa: S105 (a variable's name)

# The region the CLI is told (it insists on one); an explicit endpoint decides where
# the call goes, so any region the CLI knows would do.
CLI_REGION = "ap-southeast-1"

# Major version of each product's Go SDK module (`github.com/alibabacloud-go/<p>-<v>/vN`).
_GO_MAJOR: Mapping[str, str] = {"cams": "/v5", "sts": "/v2"}

Value = str | int | bool


@dataclass(frozen=True, slots=True)
class Sample:
    language: str  # python, node, java, go, cli
    label: str
    filename: str
    code: str

    def to_json(self) -> dict[str, str]:
        return {
            "Language": self.language,
            "Label": self.label,
            "Filename": self.filename,
            "Code": self.code,
        }


def parse_values(op: Operation, raw: Mapping[str, str]) -> dict[str, Value]:
    """The operation's parameters among `raw`, typed and checked exactly as the gateway
    checks them (a `ServiceError` for a bad one); empty and unknown names are dropped.
    A missing required parameter is left out: the sample shows the call without it."""
    values: dict[str, Value] = {}
    for spec in op.parameters:
        text = raw.get(spec.name)
        if text is None or text == "":
            continue
        values[spec.name] = spec.parse(text)
    return values


# -- naming ----------------------------------------------------------------------------


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _compact_version(op: Operation) -> str:
    return op.version.replace("-", "")


def _string(value: str) -> str:
    """A double-quoted literal valid in Python, JavaScript, Java and Go alike."""
    return json.dumps(value, ensure_ascii=False)


def _header(op: Operation, tool: str, endpoint: str, comment: str) -> list[str]:
    return [
        f"{comment} {op.name} ({op.product} {op.version}) through {tool}, against {endpoint}.",
        f"{comment} Reads the AccessKey from {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET}",
        f"{comment} (and {ENV_SECURITY_TOKEN} for STS credentials): no secret in the code.",
    ]


def _specs(op: Operation, values: Mapping[str, Value]) -> list[tuple[ParameterSpec, Value]]:
    return [(spec, values[spec.name]) for spec in op.parameters if spec.name in values]


# -- Python (V2 SDK) -------------------------------------------------------------------


def _literal(value: Value, true: str = "true", false: str = "false") -> str:
    """A scalar as source text: booleans spelled the language's way, numbers bare."""
    if isinstance(value, bool):
        return true if value else false
    if isinstance(value, int):
        return str(value)
    return _string(value)


def python_sample(
    op: Operation, values: Mapping[str, Value], endpoint: str, protocol: str = "http"
) -> str:
    package = f"alibabacloud_{op.product}{_compact_version(op)}"
    request_class = f"{op.name}Request"
    method = _snake(op.name)
    lines = ['"""' + f"{op.name} through the Alibaba Cloud Python SDK (V2), against {endpoint}."]
    lines += [
        "",
        f"pip install {package.replace('_', '-')}",
        f"Reads the AccessKey from {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET}",
        f"(and {ENV_SECURITY_TOKEN} for STS credentials): no secret in the code.",
        '"""',
        "",
        "import json",
        "import os",
        "",
        f"from {package}.client import Client",
    ]
    if op.parameters:
        lines.append(f"from {package}.models import {request_class}")
    lines += [
        "from alibabacloud_tea_openapi.models import Config",
        "",
        "config = Config(",
        f'    access_key_id=os.environ["{ENV_ACCESS_KEY_ID}"],',
        f'    access_key_secret=os.environ["{ENV_ACCESS_KEY_SECRET}"],',
        f'    security_token=os.environ.get("{ENV_SECURITY_TOKEN}"),',
        f"    endpoint={_string(endpoint)},",
        f"    protocol={_string(protocol)},",
        ")",
        "client = Client(config)",
    ]
    if op.parameters:
        lines.append(f"request = {request_class}(")
        for spec, value in _specs(op, values):
            lines.append(f"    {_snake(spec.name)}={_literal(value, 'True', 'False')},")
        lines += [")", f"response = client.{method}(request)"]
    else:
        lines.append(f"response = client.{method}()")
    lines.append("print(json.dumps(response.body.to_map(), indent=2, ensure_ascii=False))")
    return "\n".join(lines) + "\n"


# -- Node.js ---------------------------------------------------------------------------


def node_sample(
    op: Operation, values: Mapping[str, Value], endpoint: str, protocol: str = "http"
) -> str:
    package = f"@alicloud/{op.product}{_compact_version(op)}"
    request_class = f"{op.name}Request"
    lines = [*_header(op, "the Alibaba Cloud Node.js SDK", endpoint, "//")]
    lines += [
        f"// npm install {package} @alicloud/openapi-client",
        "'use strict';",
        "",
        f"const Client = require('{package}').default;",
    ]
    if op.parameters:
        lines.append(f"const {{ {request_class} }} = require('{package}');")
    lines += [
        "const { Config } = require('@alicloud/openapi-client');",
        "",
        "async function main() {",
        "  const client = new Client(",
        "    new Config({",
        f"      accessKeyId: process.env.{ENV_ACCESS_KEY_ID},",
        f"      accessKeySecret: process.env.{ENV_ACCESS_KEY_SECRET},",
        f"      securityToken: process.env.{ENV_SECURITY_TOKEN},",
        f"      endpoint: {_string(endpoint)},",
        f"      protocol: {_string(protocol)},",
        "    }),",
        "  );",
    ]
    call = f"client.{_lower_first(op.name)}"
    if op.parameters:
        lines.append(f"  const request = new {request_class}({{")
        for spec, value in _specs(op, values):
            lines.append(f"    {_lower_first(spec.name)}: {_literal(value)},")
        lines += ["  });", f"  const response = await {call}(request);"]
    else:
        lines.append(f"  const response = await {call}();")
    lines += [
        "  console.log(JSON.stringify(response.body.toMap(), null, 2));",
        "}",
        "",
        "main().catch((error) => {",
        "  console.error(`${error.code}: ${error.message}`);",
        "  process.exitCode = 1;",
        "});",
    ]
    return "\n".join(lines) + "\n"


# -- Java ------------------------------------------------------------------------------


def _java_literal(spec: ParameterSpec, value: Value) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and spec.format == "int64":
        return f"{value}L"
    return _literal(value)


def java_sample(
    op: Operation, values: Mapping[str, Value], endpoint: str, protocol: str = "http"
) -> str:
    package = f"com.aliyun.{op.product}{_compact_version(op)}"
    request_class = f"{op.name}Request"
    response_class = f"{op.name}Response"
    lines = [*_header(op, "the Alibaba Cloud Java SDK", endpoint, "//")]
    lines += [
        f"// Maven: com.aliyun:{op.product}{_compact_version(op)} (brings com.aliyun:tea-openapi).",
        f"import {package}.Client;",
    ]
    if op.parameters:
        lines.append(f"import {package}.models.{request_class};")
    lines += [
        f"import {package}.models.{response_class};",
        "import com.aliyun.teaopenapi.models.Config;",
        "import com.aliyun.teautil.Common;",
        "",
        "public class Sample {",
        "    public static void main(String[] args) throws Exception {",
        "        Config config = new Config()",
        f'                .setAccessKeyId(System.getenv("{ENV_ACCESS_KEY_ID}"))',
        f'                .setAccessKeySecret(System.getenv("{ENV_ACCESS_KEY_SECRET}"))',
        f'                .setSecurityToken(System.getenv("{ENV_SECURITY_TOKEN}"))',
        f"                .setEndpoint({_string(endpoint)})",
        f"                .setProtocol({_string(protocol)});",
        "        Client client = new Client(config);",
    ]
    call = f"client.{_lower_first(op.name)}"
    if op.parameters:
        specs = _specs(op, values)
        lines.append(f"        {request_class} request = new {request_class}()")
        for spec, value in specs:
            lines.append(f"                .set{spec.name}({_java_literal(spec, value)})")
        lines[-1] += ";"
        lines.append(f"        {response_class} response = {call}(request);")
    else:
        lines.append(f"        {response_class} response = {call}();")
    lines += [
        "        System.out.println(Common.toJSONString(response.getBody().toMap()));",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


# -- Go --------------------------------------------------------------------------------


def _go_literal(spec: ParameterSpec, value: Value) -> str:
    if isinstance(value, bool):
        return f"tea.Bool({'true' if value else 'false'})"
    if isinstance(value, int):
        return f"tea.Int64({value})" if spec.format == "int64" else f"tea.Int32({value})"
    return f"tea.String({_string(value)})"


def _go_fields(pairs: list[tuple[str, str]], indent: str) -> list[str]:
    """Struct fields aligned as gofmt aligns them."""
    width = max((len(name) for name, _ in pairs), default=0) + 1
    return [f"{indent}{(name + ':').ljust(width)} {value}," for name, value in pairs]


def go_sample(
    op: Operation, values: Mapping[str, Value], endpoint: str, protocol: str = "http"
) -> str:
    alias = f"{op.product}{_compact_version(op)}"
    module = (
        f"github.com/alibabacloud-go/{op.product}-{_compact_version(op)}"
        f"{_GO_MAJOR.get(op.product, '')}"
    )
    lines = [*_header(op, "the Alibaba Cloud Go SDK", endpoint, "//")]
    lines += [
        f"// go get {module} github.com/alibabacloud-go/darabonba-openapi/v2",
        "package main",
        "",
        "import (",
        '\t"fmt"',
        '\t"os"',
        "",
        f'\t{alias} "{module}/client"',
        '\topenapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"',
        '\t"github.com/alibabacloud-go/tea/tea"',
        ")",
        "",
        "func main() {",
        "\tconfig := &openapi.Config{",
        *_go_fields(
            [
                ("AccessKeyId", f'tea.String(os.Getenv("{ENV_ACCESS_KEY_ID}"))'),
                ("AccessKeySecret", f'tea.String(os.Getenv("{ENV_ACCESS_KEY_SECRET}"))'),
                ("Endpoint", f"tea.String({_string(endpoint)})"),
                ("Protocol", f"tea.String({_string(protocol)})"),
            ],
            "\t\t",
        ),
        "\t}",
        f'\tif token := os.Getenv("{ENV_SECURITY_TOKEN}"); token != "" {{',
        "\t\tconfig.SecurityToken = tea.String(token)",
        "\t}",
        f"\tclient, err := {alias}.NewClient(config)",
        "\tif err != nil {",
        "\t\tfmt.Fprintln(os.Stderr, err)",
        "\t\tos.Exit(1)",
        "\t}",
    ]
    if op.parameters:
        fields = [(spec.name, _go_literal(spec, value)) for spec, value in _specs(op, values)]
        lines.append(f"\trequest := &{alias}.{op.name}Request{{")
        lines += _go_fields(fields, "\t\t")
        lines += ["\t}", f"\tresponse, err := client.{op.name}(request)"]
    else:
        lines.append(f"\tresponse, err := client.{op.name}()")
    lines += [
        "\tif err != nil {",
        "\t\tfmt.Fprintln(os.Stderr, err)",
        "\t\tos.Exit(1)",
        "\t}",
        "\tfmt.Println(response.Body.String())",
        "}",
    ]
    return "\n".join(lines) + "\n"


# -- aliyun CLI ------------------------------------------------------------------------


def _cli_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return shlex.quote(str(value))


def cli_sample(
    op: Operation, values: Mapping[str, Value], endpoint: str, protocol: str = "http"
) -> str:
    lines = [*_header(op, "the Alibaba Cloud CLI (aliyun)", endpoint, "#")]
    lines.append(
        "# ALIBABA_CLOUD_IGNORE_PROFILE=TRUE makes it use those variables, not a saved profile."
    )
    transport = " --insecure" if protocol == "http" else ""
    parts = [
        f"ALIBABA_CLOUD_IGNORE_PROFILE=TRUE aliyun {op.product} {op.name}",
        f"  --endpoint {shlex.quote(endpoint)}{transport}",
        f"  --region {CLI_REGION}",
    ]
    parts += [f"  --{spec.name} {_cli_value(value)}" for spec, value in _specs(op, values)]
    lines.append(" \\\n".join(parts))
    return "\n".join(lines) + "\n"


# -- all of them -----------------------------------------------------------------------

_Generator = Callable[[Operation, Mapping[str, Value], str, str], str]

LANGUAGES: tuple[tuple[str, str, str, _Generator], ...] = (
    ("python", "Python (V2 SDK)", "sample.py", python_sample),
    ("node", "Node.js", "sample.js", node_sample),
    ("java", "Java", "Sample.java", java_sample),
    ("go", "Go", "main.go", go_sample),
    ("cli", "aliyun CLI", "sample.sh", cli_sample),
)


def all_samples(
    op: Operation, values: Mapping[str, Value], endpoint: str, protocol: str = "http"
) -> list[Sample]:
    return [
        Sample(language, label, filename, generate(op, values, endpoint, protocol))
        for language, label, filename, generate in LANGUAGES
    ]
