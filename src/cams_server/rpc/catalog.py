"""The operation catalog, read from Alibaba's own API metadata format.

Each operation is declared once, in `metadata/<product>-<version>-metadata.json`:
its parameters (validation), its RAM action and access level, its flow-control
limit (parsed from the documented "QPS限制为N次/秒" sentence, or an explicit
`flowControl` extension), its methods and its documented errors. The gateway, RAM
and the reference pages all read it from here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

from cams_server.wire.errors import (
    ServiceError,
    invalid_action,
    invalid_parameter,
    invalid_version,
    missing_parameter,
)

__all__ = [
    "LANGUAGES",
    "Catalog",
    "DocumentedError",
    "Operation",
    "OperationText",
    "ParameterSpec",
    "load_catalog",
]

# The languages an operation is documented in: English (ours, the default) and Chinese
# (Alibaba's metadata as it is).
LANGUAGES = ("en", "zh")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_QPS_SENTENCE = re.compile(r"QPS限制为\s*(\d+)\s*次/秒")
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
# Longest value we accept for any string parameter: far above anything CAMS
# documents, low enough that a flood of giant values cannot hurt the server.
_MAX_STRING = 4096


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    name: str
    location: str
    type: str
    format: str | None
    required: bool
    description: str
    example: str | None
    enum: tuple[str, ...] | None
    max_length: int | None
    pattern: str | None
    default: str | None = None  # the value of a call that does not send it
    minimum: int | None = None
    maximum: int | None = None
    unit: str | None = None  # "epoch-milliseconds" (the overlay's x-unit)

    def parse(self, raw: str) -> str | int | bool:
        """Check one raw wire value against the spec and return its typed value."""
        if self.type == "integer":
            if not re.fullmatch(r"-?[0-9]{1,20}", raw):
                raise invalid_parameter(self.name, f"{self.name} must be an integer, got {raw!r}.")
            value = int(raw)
            low, high = _INT64 if self.format == "int64" else _INT32
            low = low if self.minimum is None else max(low, self.minimum)
            high = high if self.maximum is None else min(high, self.maximum)
            if not low <= value <= high:
                raise invalid_parameter(
                    self.name, f"{self.name} {raw} is out of range: it is {low} to {high}."
                )
            return value
        if self.type == "boolean":
            lowered = raw.lower()
            if lowered not in ("true", "false"):
                raise invalid_parameter(
                    self.name, f"{self.name} must be true or false, got {raw!r}."
                )
            return lowered == "true"
        limit = self.max_length or _MAX_STRING
        if len(raw) > limit:
            raise invalid_parameter(
                self.name,
                f"{self.name} is {len(raw)} characters long; at most {limit} are allowed.",
            )
        if _CONTROL.search(raw):
            raise invalid_parameter(self.name, f"{self.name} contains control characters.")
        if self.enum is not None and raw not in self.enum:
            allowed = ", ".join(self.enum)
            raise invalid_parameter(
                self.name, f"{self.name} must be one of {allowed}; got {raw!r}."
            )
        if self.pattern is not None and not re.fullmatch(self.pattern, raw):
            raise invalid_parameter(self.name, f"{self.name} must match {self.pattern}.")
        return raw


@dataclass(frozen=True, slots=True)
class DocumentedError:
    status: int
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class OperationText:
    """What the reference pages and the Explorer say of an operation, in one language."""

    title: str
    summary: str
    description: str  # Markdown
    parameters: Mapping[str, str]  # parameter name -> description
    responses: Mapping[str, str]  # field path ("Data[].SentCount") -> description
    sample: str | None  # a sample answer, JSON text
    examples: Mapping[str, str] = field(default_factory=dict)  # field path -> example


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    product: str
    version: str
    title: str
    summary: str
    description: str
    methods: frozenset[str]
    schemes: frozenset[str]
    parameters: tuple[ParameterSpec, ...]
    access_level: str
    flow_limit: int | None
    errors: tuple[DocumentedError, ...]
    response_fields: Mapping[str, Any]
    response_example: str | None
    texts: Mapping[str, OperationText] = field(default_factory=dict)  # by language

    def text(self, language: str) -> OperationText:
        """The operation's documentation in `language`, else Alibaba's own (Chinese)."""
        return self.texts.get(language) or self.texts["zh"]

    @property
    def ram_action(self) -> str:
        """The RAM action name, `<product>:<Operation>`, as in the seed's authorization table."""
        return f"{self.product}:{self.name}"

    def documented_error(self, code: str) -> DocumentedError | None:
        """The error `code` as the metadata documents it for this operation, if it does."""
        return next((e for e in self.errors if e.code == code), None)

    def error(self, code: str, hint: str | None = None, **extra: Any) -> ServiceError:
        """The documented error `code` as a `ServiceError`, its message followed by `hint`.

        Handlers raise only the codes their metadata documents; asking for another is a
        bug in the handler, reported as such.
        """
        documented = self.documented_error(code)
        if documented is None:
            raise LookupError(f"{self.name} documents no error {code}")
        message = documented.message if not hint else f"{documented.message} {hint}"
        return ServiceError(documented.code, documented.status, message, **extra)

    def parse_parameters(self, raw: Mapping[str, str]) -> dict[str, str | int | bool]:
        """Validate the business parameters of one call; unknown ones are ignored, as upstream."""
        parsed: dict[str, str | int | bool] = {}
        for spec in self.parameters:
            value = raw.get(spec.name)
            if value is None or value == "":
                if spec.required:
                    raise missing_parameter(spec.name)
                if spec.default is None:
                    continue
                value = spec.default
            parsed[spec.name] = spec.parse(value)
        return parsed


class Catalog:
    """Every operation this server answers, by action name."""

    def __init__(self, operations: Iterable[Operation]) -> None:
        self._by_name: dict[str, Operation] = {}
        for op in operations:
            if op.name in self._by_name:
                raise ValueError(f"operation {op.name} declared twice")
            self._by_name[op.name] = op

    def __iter__(self) -> Any:
        return iter(sorted(self._by_name.values(), key=lambda op: (op.product, op.name)))

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> Operation:
        return self._by_name[name]

    def resolve(self, action: str, version: str) -> Operation:
        """The operation for an (action, version) pair, or the gateway's error for it."""
        op = self._by_name.get(action)
        if op is None:
            known = ", ".join(sorted(self._by_name))
            raise invalid_action(f"Action {action!r} does not exist; this server answers {known}.")
        if version != op.version:
            raise invalid_version(version, action, op.version)
        return op


def _parameter(raw: Mapping[str, Any]) -> ParameterSpec:
    schema = raw.get("schema", {})
    enum = schema.get("enum")
    example = schema.get("example")
    default = schema.get("default")
    return ParameterSpec(
        name=raw["name"],
        location=raw.get("in", "query"),
        type=schema.get("type", "string"),
        format=schema.get("format"),
        required=bool(schema.get("required", False)),
        description=schema.get("description", ""),
        example=None if example is None else str(example),
        enum=None if enum is None else tuple(str(v) for v in enum),
        max_length=schema.get("maxLength"),
        pattern=schema.get("pattern"),
        default=None if default is None else str(default),
        minimum=schema.get("minimum"),
        maximum=schema.get("maximum"),
        unit=schema.get("x-unit"),
    )


def _status(raw: str, code: str) -> int:
    """The HTTP status of a documented error; Alibaba's metadata leaves some as "None"."""
    if raw.isdigit():
        return int(raw)
    return 404 if code.startswith(("EntityNotExist", "NotFound")) else 400


def _flow_limit(api: Mapping[str, Any]) -> int | None:
    explicit = api.get("flowControl")
    if explicit is not None:
        return int(explicit["limit"])
    match = _QPS_SENTENCE.search(api.get("description", ""))
    return int(match.group(1)) if match else None


def operations_from_metadata(
    metadata: Mapping[str, Any], names: Iterable[str] | None = None
) -> list[Operation]:
    """Build `Operation`s from one product's metadata document (optionally a subset)."""
    product = str(metadata["product"]).lower()
    version = str(metadata["version"])
    common = [_parameter(p) for p in metadata.get("commonParameters", [])]
    wanted = None if names is None else set(names)
    ops: list[Operation] = []
    for name, api in metadata["apis"].items():
        if wanted is not None and name not in wanted:
            continue
        own = [_parameter(p) for p in api.get("parameters", [])]
        own_names = {p.name for p in own}
        errors = tuple(
            DocumentedError(_status(status, e["errorCode"]), e["errorCode"], e["errorMessage"])
            for status, entries in api.get("errorCodes", {}).items()
            for e in entries
        )
        ok = api.get("responses", {}).get("200", {}).get("schema", {})
        demo = api.get("responseDemo")
        example = None
        if demo:
            try:
                example = json.loads(demo)[0].get("example")
            except (ValueError, LookupError, AttributeError):
                example = None
        ops.append(
            Operation(
                name=name,
                product=product,
                version=version,
                title=api.get("title", ""),
                summary=api.get("summary", ""),
                description=api.get("description", ""),
                methods=frozenset(m.upper() for m in api.get("methods", ["get", "post"])),
                schemes=frozenset(m.upper() for m in api.get("schemes", ["http", "https"])),
                parameters=tuple(own + [p for p in common if p.name not in own_names]),
                access_level=api.get("systemTags", {}).get("operationType", "get"),
                flow_limit=_flow_limit(api),
                errors=errors,
                response_fields=ok.get("properties", {}),
                response_example=example,
                texts={
                    "zh": OperationText(
                        api.get("title", ""),
                        api.get("summary", ""),
                        api.get("description", ""),
                        {p.name: p.description for p in own + common},
                        dict(_field_descriptions(ok.get("properties", {}))),
                        example,
                    )
                },
            )
        )
    return ops


def _field_descriptions(fields: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, str]]:
    """(path, description) of every response field: `Data[].Cliented[].Type`."""
    for name, schema in fields.items():
        if not isinstance(schema, Mapping):
            continue
        path = prefix + name
        yield path, str(schema.get("description", ""))
        items = schema.get("items")
        if schema.get("type") == "array" and isinstance(items, Mapping):
            yield from _field_descriptions(items.get("properties", {}), path + "[].")
        elif schema.get("type") == "object":
            yield from _field_descriptions(schema.get("properties", {}), path + ".")


def _in_english(op: Operation, english: Mapping[str, Any]) -> Operation:
    """`op` with its English text (`<name>-en.json`, ours) beside Alibaba's."""
    entry = english.get("apis", {}).get(op.name)
    if entry is None:
        return op
    sample = entry.get("sample")
    text = OperationText(
        entry["title"],
        entry["summary"],
        entry["description"],
        {**english.get("commonParameters", {}), **entry.get("parameters", {})},
        entry.get("responses", {}),
        op.response_example if sample is None else json.dumps(sample, indent=2),
        entry.get("examples", {}),
    )
    return replace(op, texts={**op.texts, "en": text})


def load_metadata(package: str, filename: str) -> dict[str, Any]:
    """Alibaba's API metadata document `<package>/metadata/<filename>`, with our overlay.

    The overlay (`<name>-overlay.json` beside `<name>-metadata.json`) adds to a
    parameter's schema what Alibaba's documentation says in prose only (the values of
    `Granularity`, the range of `Start`); the metadata file stays Alibaba's own.
    """
    folder = resources.files(package).joinpath("metadata")
    data: dict[str, Any] = json.loads(folder.joinpath(filename).read_text("utf-8"))
    overlay_file = folder.joinpath(filename.replace("-metadata.json", "-overlay.json"))
    if overlay_file.is_file():
        _apply_overlay(data, json.loads(overlay_file.read_text("utf-8")))
    return data


def _apply_overlay(metadata: dict[str, Any], overlay: Mapping[str, Any]) -> None:
    for name, api in overlay.get("apis", {}).items():
        parameters = {p["name"]: p for p in metadata["apis"][name]["parameters"]}
        for parameter, schema in api.get("parameters", {}).items():
            parameters[parameter].setdefault("schema", {}).update(schema)
        answer = metadata["apis"][name]["responses"]["200"]["schema"]
        for path, schema in api.get("responses", {}).items():
            _response_field(answer, path)[path.rsplit(".", 1)[-1]] = schema


def _response_field(answer: dict[str, Any], path: str) -> dict[str, Any]:
    """The properties that hold the field at `path` ("Data[].AmountSpent")."""
    properties: dict[str, Any] = answer.setdefault("properties", {})
    for part in path.split(".")[:-1]:
        schema = properties[part.removesuffix("[]")]
        if part.endswith("[]"):
            schema = schema.setdefault("items", {})
        properties = schema.setdefault("properties", {})
    return properties


def load_catalog(implemented: Mapping[tuple[str, str], Iterable[str]]) -> Catalog:
    """The catalog of the operations this server implements.

    `implemented` maps a metadata document (package, file name) to the operation names
    that have a handler; metadata of operations without one stays out of the catalog,
    so an unimplemented operation is `InvalidAction.NotFound` rather than a stub.
    """
    ops: list[Operation] = []
    for (package, filename), names in implemented.items():
        english = _load_english(package, filename)
        ops.extend(
            _in_english(op, english)
            for op in operations_from_metadata(load_metadata(package, filename), names)
        )
    return Catalog(ops)


def _load_english(package: str, filename: str) -> dict[str, Any]:
    """Our English for a metadata document (`<name>-en.json` beside it), if there is one."""
    path = resources.files(package).joinpath("metadata", filename.replace("-metadata", "-en"))
    return json.loads(path.read_text("utf-8")) if path.is_file() else {}
