"""The HTML of the reference pages (/docs/, /docs/<Action>) and of the API Explorer.

Everything shown comes from the operation catalog (Alibaba's API metadata): nothing
about an operation is written here a second time. Rendered on the server with every
value HTML-escaped; the Explorer's form is built in the browser from the same
catalog, embedded as JSON.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from string import Template
from typing import Any

from cams_server.explorer.error_guide import GUIDE, SECTIONS, ErrorGuide
from cams_server.ram.conditions import GLOBAL_KEYS
from cams_server.ram.system_policies import SYSTEM_POLICY_DOCUMENTS
from cams_server.rpc.catalog import Catalog, Operation, OperationText, ParameterSpec

__all__ = [
    "DemoKey",
    "explorer_data",
    "product_title",
    "rate_limit_text",
    "render_console",
    "render_errors",
    "render_explorer",
    "render_index",
    "render_operation",
    "throttle_code",
]

DemoKey = tuple[str, str, str]  # label, AccessKey ID, secret

# The products' names as Alibaba's documentation titles them.
_PRODUCT_NAMES: Mapping[str, str] = {
    "cams": "Chat App Message Service",
    "sts": "Security Token Service",
}

# What a RAM policy names as the resource of an action, where it is not the
# account's whole product ("All Resources", `*`), as the reference table shows it.
_RESOURCE_TYPES: Mapping[str, tuple[str, str]] = {
    "sts:AssumeRole": ("Role", "acs:ram:*:{#accountId}:role/{#RoleName}"),
}
# Actions every authenticated caller may perform, whatever its policies.
_UNAUTHORIZED_ACTIONS = frozenset({"sts:GetCallerIdentity"})

_THROTTLE_DOCUMENTED = "System.LimitControl"
_THROTTLE_GATEWAY = "Throttling.User"


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def product_title(product: str) -> str:
    return _PRODUCT_NAMES.get(product, product.upper())


def throttle_code(op: Operation) -> str:
    """The code a call over the flow limit gets: the operation's own, else the gateway's."""
    codes = {error.code for error in op.errors}
    return _THROTTLE_DOCUMENTED if _THROTTLE_DOCUMENTED in codes else _THROTTLE_GATEWAY


def rate_limit_text(op: Operation) -> str:
    if op.flow_limit is None:
        return "No per-operation rate limit is documented."
    noun = "call" if op.flow_limit == 1 else "calls"
    return f"{op.flow_limit} {noun} per second per account"


# -- the metadata's Markdown -----------------------------------------------------------

_LINK = re.compile(r"\[([^\]]+)\]\((?:[^)]*)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str) -> str:
    """Escape, then the inline Markdown the metadata uses: links (text only), bold, code."""
    out = _e(_LINK.sub(r"\1", text))
    out = _CODE.sub(r"<code>\1</code>", out)
    return _BOLD.sub(r"<strong>\1</strong>", out)


def _markdown(text: str) -> str:
    """The small Markdown subset of Alibaba's descriptions: paragraphs, `- ` lists,
    `> ` notes, `#` headings and inline marks."""
    blocks: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    note: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(f"<p>{' '.join(_inline(p) for p in paragraph)}</p>")
            paragraph.clear()
        if items:
            blocks.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()
        if note:
            blocks.append(f'<div class="note">{_markdown(chr(10).join(note))}</div>')
            note.clear()

    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if stripped.startswith(">"):
            if not note:
                flush()
            note.append(stripped[1:].lstrip())
            continue
        if note:
            flush()
        if not stripped:
            flush()
        elif stripped.startswith("#"):
            flush()
            level = min(len(stripped) - len(stripped.lstrip("#")) + 1, 5)
            blocks.append(f"<h{level}>{_inline(stripped.lstrip('#').strip())}</h{level}>")
        elif stripped.startswith(("- ", "* ")):
            if paragraph:
                flush()
            items.append(stripped[2:])
        else:
            if items:
                flush()
            paragraph.append(stripped)
    flush()
    return "".join(blocks)


# -- layout ----------------------------------------------------------------------------


def _layout(title: str, body: str, active: str, head: str = "", language: str = "en") -> str:
    nav = [
        ("docs", "/docs/", "API reference"),
        ("explorer", "/explorer", "API Explorer"),
        ("console", "/console", "ROI console"),
    ]
    links = "".join(
        f'<a href="{href}"{" class=active" if key == active else ""}>{label}</a>'
        for key, href, label in nav
    )
    # The switch keeps the page: a query of its own (lang=) that the route reads first.
    switch = "".join(
        f'<a class="lang{" active" if code == language else ""}" lang="{code}" '
        f'hreflang="{code}" href="?lang={code}">{label}</a>'
        for code, label in (("en", "English"), ("zh", "中文"))
    )
    links += f'<span class="languages">{switch}</span>'
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{"zh-CN" if language == "zh" else "en"}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} · cams-server</title>"
        '<link rel="icon" href="data:,">'
        '<link rel="stylesheet" href="/explorer/static/explorer.css">'
        f"{head}</head><body>"
        f'<header class="top"><a class="brand" href="/docs/">cams-server</a><nav>{links}</nav>'
        "</header>"
        f"{body}</body></html>\n"
    )


def _sidebar(catalog: Catalog, current: str | None) -> str:
    parts = ['<nav class="side">']
    for product, ops in _by_product(catalog):
        first = ops[0]
        parts.append(
            f"<h4>{_e(product_title(product))}<small>{_e(product)} {_e(first.version)}</small></h4>"
        )
        parts.append("<ul>")
        for op in ops:
            cls = ' class="current"' if op.name == current else ""
            parts.append(f'<li><a{cls} href="/docs/{_e(op.name)}">{_e(op.name)}</a></li>')
        parts.append("</ul>")
    parts.append("</nav>")
    return "".join(parts)


def _by_product(catalog: Catalog) -> list[tuple[str, list[Operation]]]:
    grouped: dict[str, list[Operation]] = {}
    for op in catalog:
        grouped.setdefault(op.product, []).append(op)
    return list(grouped.items())


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], cls: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


# -- /docs/ ----------------------------------------------------------------------------


def render_index(catalog: Catalog, language: str = "en") -> str:
    sections = []
    for product, ops in _by_product(catalog):
        rows = []
        for op in ops:
            rows.append(
                (
                    f'<a href="/docs/{_e(op.name)}"><code>{_e(op.name)}</code></a>',
                    _inline(op.text(language).summary or op.text(language).title),
                    f"<code>{_e(op.ram_action)}</code>",
                    _e(op.access_level),
                    _e(rate_limit_text(op)),
                    f'<a href="/explorer?Action={_e(op.name)}">Try it</a>',
                )
            )
        sections.append(
            f'<section class="product" id="{_e(product)}">'
            f"<h2>{_e(product_title(product))} <small>{_e(product)} {_e(ops[0].version)}</small>"
            "</h2>"
            + _table(
                ("Operation", "Summary", "RAM action", "Access level", "Rate limit", ""),
                rows,
                "ops",
            )
            + "</section>"
        )
    count = sum(1 for _ in catalog)
    body = (
        '<div class="page">'
        + _sidebar(catalog, None)
        + '<main class="doc">'
        + "<h1>API reference</h1>"
        + f"<p class=lead>The {count} operations this server answers, from Alibaba Cloud's own "
        "API metadata. Every operation is called RPC style on <code>/</code>, signed with an "
        "AccessKey (signature V3 <code>ACS3-HMAC-SHA256</code> or V1), exactly as the official "
        'SDKs call Alibaba Cloud. Try any of them in the <a href="/explorer">API Explorer</a>. '
        'What each error code means, and how to fix it: <a href="/docs/errors">error codes</a>. '
        'What enabling returns, in charts: the <a href="/console">ROI console</a>.'
        "</p>" + "".join(sections) + "</main></div>"
    )
    return _layout("API reference", body, "docs", language=language)


# -- /docs/errors ----------------------------------------------------------------------


def _guide_for(code: str) -> ErrorGuide | None:
    """The entry explaining `code`: its own, else its family's (Missing<Parameter>,
    InvalidParameter.<Name>)."""
    if code in GUIDE:
        return GUIDE[code]
    if code.startswith("Missing"):
        return GUIDE["Missing"]
    return GUIDE.get(code.split(".", 1)[0])


def _guide_entry(guide: ErrorGuide, anchor: bool = True) -> str:
    title = "Missing&lt;Parameter&gt;" if guide.code == "Missing" else _e(guide.code)
    where = f' id="{_e(guide.code)}"' if anchor else ""
    return (
        f'<section class="error-entry"{where}><h3><code class="code">{title}</code> '
        f"<small>HTTP {_e(guide.status)}</small></h3>"
        f"<p><strong>Why:</strong> {_e(guide.cause)}</p>"
        f"<p><strong>Fix:</strong> {_e(guide.fix)}</p></section>"
    )


def render_errors(
    catalog: Catalog, code: str | None = None, request_id: str | None = None, language: str = "en"
) -> str:
    """Every error code this server answers, why and how to fix it; with `code` (the
    link in an error's `Recommend`), that code's entry first."""
    parts = ['<div class="page">', _sidebar(catalog, None), '<main class="doc">']
    parts.append("<h1>Error codes</h1>")
    if code:
        guide = _guide_for(code)
        documented = [(op, e) for op in catalog for e in op.errors if e.code == code]
        parts.append(
            f'<div class="note" id="your-error"><h2>Your error: <code>{_e(code)}</code></h2>'
        )
        if request_id:
            parts.append(
                f"<p>RequestId <code>{_e(request_id)}</code>: the server's log line of the "
                "call carries it.</p>"
            )
        for op, error in documented[:1]:
            parts.append(f"<p>{_e(op.name)} documents it: {_e(error.message)}</p>")
        if guide is not None:
            parts.append(_guide_entry(guide, anchor=False))
        elif not documented:
            parts.append(
                "<p>This code is not documented here; the error's Message says "
                "what was wrong and how to fix it.</p>"
            )
        parts.append("</div>")
    parts.append(
        "<p class=lead>Every error answer carries <code>Code</code>, <code>Message</code> (what "
        "was wrong, and how to fix it), <code>RequestId</code>, <code>HostId</code> and "
        "<code>Recommend</code>, a link to this page. Codes marked retryable "
        "(<code>ServiceUnavailable</code>, throttling) may be retried after the wait the "
        "answer gives.</p>"
    )
    for title, entries in SECTIONS:
        parts.append(f"<h2>{_e(title)}</h2>")
        parts.extend(_guide_entry(entry) for entry in entries)
    rows = []
    for op in catalog:
        for error in op.errors:
            link = f"#{_e(error.code)}" if error.code in GUIDE else ""
            label = f'<code class="code">{_e(error.code)}</code>'
            cell = f'<a href="{link}">{label}</a>' if link else label
            anchor = "" if error.code in GUIDE else f' id="{_e(error.code)}"'
            rows.append(
                (
                    f'<a href="/docs/{_e(op.name)}"><code>{_e(op.name)}</code></a>',
                    f"<span{anchor}>{cell}</span>",
                    str(error.status),
                    _e(error.message),
                )
            )
    parts.append("<h2>Documented by each operation</h2>")
    parts.append(
        _table(("Operation", "Error code", "HTTP status", "Documented message"), rows, "errors")
    )
    parts.append("</main></div>")
    return _layout("Error codes", "".join(parts), "docs", language=language)


# -- /docs/<Action> --------------------------------------------------------------------


def _type_label(type_: str, format_: str | None) -> str:
    return f"{type_}<{format_}>" if format_ else type_


def _parameter_row(spec: ParameterSpec, text: OperationText) -> tuple[str, ...]:
    rules = []
    if spec.enum:
        rules.append("Valid values: " + ", ".join(f"<code>{_e(v)}</code>" for v in spec.enum))
    if spec.max_length is not None:
        rules.append(f"At most {spec.max_length} characters.")
    if spec.pattern is not None:
        rules.append(f"Must match <code>{_e(spec.pattern)}</code>.")
    if spec.default is not None:
        rules.append(f"Default: <code>{_e(spec.default)}</code>.")
    described = text.parameters.get(spec.name, spec.description)
    description = _markdown(described) + "".join(f"<p>{r}</p>" for r in rules)
    return (
        f'<code class="param">{_e(spec.name)}</code>',
        f'<span class="type">{_e(_type_label(spec.type, spec.format))}</span>',
        '<span class="required">Yes</span>' if spec.required else "No",
        description,
        f"<code>{_e(spec.example)}</code>" if spec.example else "",
    )


def _response_rows(
    fields: Mapping[str, Any], depth: int, text: OperationText, prefix: str = ""
) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for name, schema in fields.items():
        if not isinstance(schema, Mapping):
            continue
        type_ = str(schema.get("type", "string"))
        children: Mapping[str, Any] = {}
        if type_ == "array":
            items = schema.get("items") or {}
            item_type = str(items.get("type", "string")) if isinstance(items, Mapping) else ""
            type_label = f"array<{item_type}>"
            if isinstance(items, Mapping):
                children = items.get("properties") or {}
        else:
            type_label = _type_label(type_, schema.get("format"))
            children = schema.get("properties") or {}
        path = prefix + name
        example = text.examples.get(path, schema.get("example"))
        described = text.responses.get(path, str(schema.get("description", "")))
        rows.append(
            (
                f'<code class="field depth-{min(depth, 5)}">{_e(name)}</code>',
                f'<span class="type">{_e(type_label)}</span>',
                _markdown(described),
                "" if example in (None, "") else f"<code>{_e(example)}</code>",
            )
        )
        inner = path + ("[]." if type_ == "array" else ".")
        rows += _response_rows(children, depth + 1, text, inner)
    return rows


def _authorization(op: Operation) -> str:
    action = op.ram_action
    resource_type, resource = _RESOURCE_TYPES.get(action, ("All Resources", "*"))
    if action in _UNAUTHORIZED_ACTIONS:
        resource_type, resource = "None", "—"
    row = (
        f"<code>{_e(action)}</code>",
        _e(op.access_level),
        f"<strong>{_e(resource_type)}</strong><br><code>{_e(resource)}</code>",
        "none",
        "none",
    )
    table = _table(
        ("Operation", "Access level", "Resource type", "Condition key", "Associated operation"),
        [row],
        "auth",
    )
    if action in _UNAUTHORIZED_ACTIONS:
        note = "Any valid credential may call it: no RAM policy is needed."
    else:
        root = (
            " The account's own (root) AccessKey is always allowed." if op.product == "cams" else ""
        )
        note = (
            f"A RAM user or role needs a policy allowing <code>{_e(action)}</code>.{root} "
            "Besides the service's condition keys, policies may test the global keys "
            + ", ".join(f"<code>{_e(k)}</code>" for k in GLOBAL_KEYS)
            + "."
        )
    return table + f"<p class=hint>{note}</p>"


def _sample_response(sample: str | None) -> str:
    if not sample:
        return "<p>No sample response is documented.</p>"
    text = sample
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    return f'<h3>Sample success responses</h3><p>JSON format</p><pre class="json">{_e(text)}</pre>'


def _description(op: Operation, text: OperationText) -> str:
    limit = rate_limit_text(op)
    if op.flow_limit is None:
        limit_html = f"<p class=rate-limit>{_e(limit)}</p>"
    else:
        limit_html = (
            f"<p class=rate-limit>Rate limit: <strong>{_e(limit)}</strong>. A call over it is "
            f"refused with <code>{_e(throttle_code(op))}</code> (HTTP 400) and an "
            "<code>x-acs-retry-after</code> header giving the milliseconds until a call would be "
            "admitted; a refused call does not use up the allowance.</p>"
        )
    methods = ", ".join(sorted(op.methods))
    schemes = ", ".join(sorted(op.schemes))
    return (
        limit_html
        + _markdown(text.description)
        + f"<p class=hint>Methods: {_e(methods)} · Protocols: {_e(schemes)} · Version "
        f"<code>{_e(op.version)}</code> · RPC style: business parameters in the query string "
        "or a form body.</p>"
    )


def render_operation(catalog: Catalog, op: Operation, language: str = "en") -> str:
    text = op.text(language)
    params = [_parameter_row(spec, text) for spec in op.parameters]
    params_html = (
        _table(("Parameter", "Type", "Required", "Description", "Example"), params, "params")
        if params
        else "<p>This operation takes no parameters.</p>"
    )
    response_rows = [
        ("", '<span class="type">object</span>', "", ""),
        *_response_rows(op.response_fields, 0, text),
    ]
    errors = [
        (str(e.status), f'<code class="code">{_e(e.code)}</code>', _e(e.message)) for e in op.errors
    ]
    errors_html = (
        _table(("HTTP status code", "Error code", "Error message"), errors, "errors")
        if errors
        else "<p>No operation-specific errors are documented.</p>"
    )
    title = f"{product_title(op.product)}:{op.name}"
    body = (
        '<div class="page">'
        + _sidebar(catalog, op.name)
        + '<main class="doc">'
        + f'<p class="crumb"><a href="/docs/">API reference</a> / {_e(product_title(op.product))}'
        f" ({_e(op.product)} {_e(op.version)})</p>"
        + f"<h1>{_e(title)}</h1>"
        + (f'<p class="lead">{_inline(text.summary)}</p>' if text.summary else "")
        + (f'<p class="subtitle">{_inline(text.title)}</p>' if text.title else "")
        + '<h2 id="description">Operation description</h2>'
        + _description(op, text)
        + '<h2 id="debugging">Debugging</h2>'
        + f'<p>Call it from the <a class="button" href="/explorer?Action={_e(op.name)}">'
        "API Explorer</a>: it signs the request in your browser and generates SDK code "
        "samples for the values you enter.</p>"
        + '<h2 id="authorization">Authorization information</h2>'
        + _authorization(op)
        + '<h2 id="request-parameters">Request parameters</h2>'
        + params_html
        + '<h2 id="response-parameters">Response parameters</h2>'
        + _table(("Parameter", "Type", "Description", "Example"), response_rows, "response")
        + '<h2 id="examples">Examples</h2>'
        + _sample_response(text.sample)
        + '<h2 id="error-codes">Error codes</h2>'
        + errors_html
        + "<p class=hint>Signature, timestamp, nonce and AccessKey errors (for example "
        "<code>SignatureDoesNotMatch</code>, <code>InvalidTimeStamp.Expired</code>) are the "
        "gateway's, common to every operation: see "
        '<a href="/docs/errors">error codes</a>.</p>' + "</main></div>"
    )
    return _layout(title, body, "docs", language=language)


# -- /explorer -------------------------------------------------------------------------


def _parameter_json(spec: ParameterSpec, text: OperationText) -> dict[str, Any]:
    return {
        "name": spec.name,
        "type": spec.type,
        "format": spec.format,
        "required": spec.required,
        "description": text.parameters.get(spec.name, spec.description),
        "example": spec.example,
        "enum": None if spec.enum is None else list(spec.enum),
        "maxLength": spec.max_length,
        "pattern": spec.pattern,
        "unit": spec.unit,
    }


def _operation_json(op: Operation, language: str) -> dict[str, Any]:
    text = op.text(language)
    return {
        "name": op.name,
        "product": op.product,
        "productTitle": product_title(op.product),
        "version": op.version,
        "summary": text.summary or text.title,
        "methods": sorted(op.methods, key=lambda m: (m != "POST", m)),
        "schemes": sorted(op.schemes),
        "accessLevel": op.access_level,
        "ramAction": op.ram_action,
        "flowLimit": op.flow_limit,
        "rateLimit": rate_limit_text(op),
        "throttleCode": throttle_code(op),
        "parameters": [_parameter_json(spec, text) for spec in op.parameters],
        "errors": [{"status": e.status, "code": e.code, "message": e.message} for e in op.errors],
    }


def explorer_data(
    catalog: Catalog,
    demo_keys: Sequence[DemoKey],
    language: str = "en",
    demo_spaces: Sequence[str] = (),
) -> dict[str, Any]:
    """What the Explorer's script needs: the catalog, the demo keys and spaces (hinted in
    place of the metadata's examples), the system policies."""
    return {
        "operations": [_operation_json(op, language) for op in catalog],
        "demoSpaces": list(demo_spaces),
        "demoKeys": [
            {"label": label, "accessKeyId": key_id, "accessKeySecret": secret}
            for label, key_id, secret in demo_keys
        ],
        "systemPolicies": {
            name: json.loads(document) for name, document in SYSTEM_POLICY_DOCUMENTS.items()
        },
    }


def _script_json(data: Mapping[str, Any]) -> str:
    """JSON safe inside a <script> element: no `</script>` or `<!--` can close it."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_EXPLORER_BODY = Template("""<div class="explorer">
<form class="card form" id="call-form" aria-label="Request" autocomplete="off" novalidate>
  <label for="operation">Operation</label>
  <select id="operation">$options</select>
  <div id="operation-info" class="op-info"></div>
  <fieldset class="credentials"><legend>Credentials</legend>
    $demo
    <label for="access-key-id">AccessKey ID</label>
    <input id="access-key-id" autocomplete="off" spellcheck="false" placeholder="LTAI…">
    <label for="access-key-secret">AccessKey secret</label>
    <input id="access-key-secret" type="password" autocomplete="off" spellcheck="false">
    <label for="security-token">Security token <small>(STS credentials only)</small></label>
    <input id="security-token" autocomplete="off" spellcheck="false">
    <p class="hint">The secret never leaves this page: the request is signed here
    (ACS3-HMAC-SHA256) and only its signature is sent, like any SDK would.</p>
  </fieldset>
  <fieldset class="parameters"><legend>Parameters</legend>
    <div id="parameters"></div>
  </fieldset>
  <div class="actions">
    <label for="method">HTTP method</label>
    <select id="method"></select>
    <button id="call" type="submit">Call</button>
  </div>
  <p id="form-error" class="form-error" hidden></p>
</form>
<section class="card result" aria-label="Result">
  <h2>Result</h2>
  <p id="placeholder" class="hint">Fill the form and press Call: the response, the request as
  sent and an explanation of any error appear here.</p>
  <dl id="outcome" class="outcome" hidden>
    <dt>HTTP status</dt><dd id="status"></dd>
    <dt>Code</dt><dd id="result-code"></dd>
    <dt>RequestId</dt><dd id="request-id"></dd>
    <dt>Time</dt><dd id="elapsed"></dd>
  </dl>
  <div id="error" class="error" hidden>
    <h3><span id="error-code"></span></h3>
    <p id="error-message"></p>
    <div id="advice" class="advice"></div>
  </div>
  <h3>Response body</h3>
  <pre id="response-body" class="json"></pre>
  <details id="request-details" open><summary>Request as sent</summary>
    <pre id="request-sent"></pre>
    <details><summary>Canonical request and string to sign</summary>
      <pre id="canonical-request"></pre>
      <pre id="string-to-sign"></pre>
    </details>
  </details>
  <h2>SDK code samples</h2>
  <p class="hint">Generated from the metadata and the form's values; they read the AccessKey
  from <code>ALIBABA_CLOUD_ACCESS_KEY_ID</code> / <code>ALIBABA_CLOUD_ACCESS_KEY_SECRET</code>
  and call this server.</p>
  <div id="sample-tabs" class="tabs" role="tablist"></div>
  <div class="sample-box">
    <pre id="sample-code"></pre>
    <button id="copy-sample" type="button" class="copy">Copy</button>
  </div>
  <p id="sample-error" class="form-error" hidden></p>
</section>
</div>
<script type="application/json" id="explorer-data">$data</script>
<script src="/explorer/static/explorer.js" defer></script>""")


def render_explorer(
    catalog: Catalog,
    demo_keys: Sequence[DemoKey],
    selected: str | None,
    language: str = "en",
    demo_spaces: Sequence[str] = (),
) -> str:
    options = []
    for product, ops in _by_product(catalog):
        group = [
            f'<option value="{_e(op.name)}"{" selected" if op.name == selected else ""}>'
            f"{_e(op.name)}</option>"
            for op in ops
        ]
        options.append(
            f'<optgroup label="{_e(product_title(product))} ({_e(product)})">'
            + "".join(group)
            + "</optgroup>"
        )
    demo = ""
    if demo_keys:
        demo_options = "".join(
            f'<option value="{i}">{_e(label)} — {_e(key_id)}</option>'
            for i, (label, key_id, _) in enumerate(demo_keys)
        )
        demo = (
            '<label for="demo-key">Demo world key</label>'
            '<select id="demo-key"><option value="">Choose a demo key…</option>'
            f"{demo_options}</select>"
        )
    body = _EXPLORER_BODY.substitute(
        options="".join(options),
        demo=demo,
        data=_script_json(explorer_data(catalog, demo_keys, language, demo_spaces)),
    )
    return _layout("API Explorer", body, "explorer", language=language)


# -- /console --------------------------------------------------------------------------

_CONSOLE_BODY = """<div class="console">
<section class="card" id="token-card" aria-label="Admin token">
  <h2>ROI console</h2>
  <form id="token-form" autocomplete="off">
    <label for="token">Admin token (<code>CAMS_ADMIN_TOKEN</code>)</label>
    <input id="token" type="password" autocomplete="off" spellcheck="false">
    <button id="open" type="submit">Open</button>
  </form>
  <p class="hint">The token stays in this tab (session storage) and goes to this server only,
  as the Bearer header of the admin API. The page itself holds no secret.</p>
  <p id="token-error" class="form-error" hidden></p>
</section>
<section class="card" id="overview" aria-label="Enablements" hidden>
  <div class="controls">
    <label for="range">Range</label>
    <select id="range">
      <option value="1">Last 24 hours</option>
      <option value="7" selected>Last 7 days</option>
      <option value="30">Last 30 days</option>
      <option value="90">Last 90 days</option>
      <option value="custom">Custom</option>
    </select>
    <span id="custom-range" hidden>
      <input id="from" type="date" aria-label="From (UTC)">
      <input id="to" type="date" aria-label="To (UTC)">
    </span>
    <label for="granularity">Granularity</label>
    <select id="granularity">
      <option value="auto" selected>Automatic</option>
      <option value="HALF_HOUR">Half hour</option>
      <option value="DAILY">Day</option>
    </select>
    <label for="account-filter">Account</label>
    <input id="account-filter" placeholder="filter by account" spellcheck="false">
    <button id="sign-out" type="button" class="secondary">Forget the token</button>
  </div>
  <form id="space-form" class="controls" autocomplete="off">
    <label for="space-id">Any space</label>
    <input id="space-id" placeholder="CustSpaceId" spellcheck="false">
    <button id="show-space" type="submit" class="secondary">Show</button>
  </form>
  <p id="range-error" class="empty" hidden></p>
  <h2>Enabled spaces</h2>
  <p id="enablements-empty" class="empty" hidden>No space has enabled ROI statistics yet:
  call EnableWhatsappROIMetric.</p>
  <div class="table-wrap"><table id="enablements" class="enablements">
    <thead><tr>
      <th><button type="button" data-sort="account_id">Account</button></th>
      <th><button type="button" data-sort="space_id">Space</button></th>
      <th><button type="button" data-sort="enabled_at">Enabled at</button></th>
      <th><button type="button" data-sort="enabled_by">Enabled by</button></th>
      <th><button type="button" data-sort="upstream">Upstream</button></th>
      <th><button type="button" data-sort="Sent">Sent</button></th>
      <th><button type="button" data-sort="Delivered">Delivered</button></th>
      <th><button type="button" data-sort="Read">Read</button></th>
      <th><button type="button" data-sort="Clicked">Clicked</button></th>
      <th><button type="button" data-sort="AmountSpent">Spent</button></th>
    </tr></thead>
    <tbody></tbody>
  </table></div>
</section>
<section class="card" id="space-view" aria-label="A space's ROI" hidden>
  <h2 id="space-title"></h2>
  <p id="space-enabled" class="hint"></p>
  <p id="space-empty" class="empty" hidden></p>
  <div id="figures" class="figures"></div>
  <figure class="chart"><figcaption>Sent, delivered and read per template and language
    <button type="button" class="csv" data-chart="templates">CSV</button></figcaption>
    <div class="canvas-box"><canvas id="chart-templates"></canvas></div></figure>
  <figure class="chart"><figcaption>Sent and delivered per business number
    <button type="button" class="csv" data-chart="phones">CSV</button></figcaption>
    <div class="canvas-box"><canvas id="chart-phones"></canvas></div></figure>
  <figure class="chart"><figcaption>Funnel: sent, delivered, read, clicked
    <button type="button" class="csv" data-chart="funnel">CSV</button></figcaption>
    <div class="canvas-box"><canvas id="chart-funnel"></canvas></div></figure>
  <figure class="chart"><figcaption>Clicks by button
    <button type="button" class="csv" data-chart="buttons">CSV</button></figcaption>
    <div class="canvas-box"><canvas id="chart-buttons"></canvas></div></figure>
  <figure class="chart"><figcaption>Amount spent per period
    <button type="button" class="csv" data-chart="cost">CSV</button></figcaption>
    <div class="canvas-box"><canvas id="chart-cost"></canvas></div></figure>
</section>
</div>
<script src="/explorer/static/chart.umd.min.js" defer></script>
<script src="/explorer/static/console.js" defer></script>"""


def render_console() -> str:
    """The ROI console: a page without data; its script reads the admin API with the
    token the user enters (see explorer/static/console.js)."""
    return _layout("ROI console", _CONSOLE_BODY, "console")
