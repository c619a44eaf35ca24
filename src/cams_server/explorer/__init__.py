"""The reference pages (/docs/, /docs/<Action>) and the API Explorer (/explorer).

`Explorer.route` answers the GET requests of those paths and returns None for any
other path. The Explorer page signs its calls in the browser
(static/explorer.js, ACS3-HMAC-SHA256 exactly as `gateway/signing.py`) and sends
them to `/` like any SDK, so they meet the same gateway: signature, nonce, flow
control, RAM. The server never sees a secret typed into the page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

from cams_server.cams.demo import DEMO_ACCOUNT_ID
from cams_server.explorer.pages import (
    DemoKey,
    render_console,
    render_errors,
    render_explorer,
    render_index,
    render_operation,
)
from cams_server.explorer.samples import all_samples, parse_values
from cams_server.gateway.pipeline import CallRecord
from cams_server.gateway.routes import BodyReader
from cams_server.model.world import World
from cams_server.rpc.catalog import LANGUAGES, Catalog
from cams_server.wire import errors
from cams_server.wire.encoding import EncodedResponse, encode_error
from cams_server.wire.errors import ServiceError
from cams_server.wire.request import WireRequest

__all__ = ["STATIC_FILES", "DemoKey", "Explorer", "demo_keys_of", "demo_spaces_of"]

# The files under static/ the Explorer serves, and their content types.
STATIC_FILES: Mapping[str, bytes] = {
    "explorer.js": b"text/javascript;charset=utf-8",
    "explorer.css": b"text/css;charset=utf-8",
    "console.js": b"text/javascript;charset=utf-8",
    # Chart.js 4.6.1 (MIT), vendored: the console works offline. Its licence beside it.
    "chart.umd.min.js": b"text/javascript;charset=utf-8",
    "chart.js-LICENSE.md": b"text/plain;charset=utf-8",
}

_HTML = b"text/html;charset=utf-8"
_JSON = b"application/json;charset=utf-8"
# Scripts and styles from this server only; the page talks to this server only.
_CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    b"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
_FALLBACK_HOST = "127.0.0.1:8080"


def demo_keys_of(world: World) -> list[DemoKey]:
    """The active AccessKeys of the demo account (cams/demo.py), labelled for the picker;
    none once the deployment has an account of its own (then it is not a demo)."""
    keys: list[DemoKey] = []
    if any(account.id != DEMO_ACCOUNT_ID for account in world.accounts):
        return keys
    for account in world.accounts:
        if account.id != DEMO_ACCOUNT_ID:
            continue
        for key in account.access_keys:
            if key.active:
                keys.append((f"{account.name} account (root)", key.id, key.secret))
        groups = {g.name: g.policies for g in account.groups}
        for user in account.users:
            policies = list(user.policies)
            for group in user.groups:
                policies += groups.get(group, ())
            granted = ", ".join(dict.fromkeys(policies)) or "no policies"
            for key in user.access_keys:
                if key.active:
                    keys.append((f"RAM user {user.name} ({granted})", key.id, key.secret))
    return keys


def demo_spaces_of(world: World) -> list[str]:
    """The demo account's own spaces, hinted by the Explorer while its keys are offered."""
    if not demo_keys_of(world):
        return []
    return [
        space.id
        for account in world.accounts
        if account.id == DEMO_ACCOUNT_ID
        for space in account.spaces
        if not space.isv_customer
    ]


def _page_language(request: WireRequest) -> str:
    """The language of a page: `?lang=en|zh` (the page's switch), else the first of
    Accept-Language's languages (by weight) that the pages have, else English."""
    asked = dict(request.query).get("lang", "")
    if asked in LANGUAGES:
        return asked
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((request.header("accept-language") or "").split(",")[:20]):
        tag, _, weight = item.strip().partition(";q=")
        try:
            quality = float(weight) if weight else 1.0
        except ValueError:
            continue
        primary = tag.strip().lower().split("-", 1)[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else "en"


def _headers(request_id: str, content_type: bytes, cache: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", content_type),
        (b"x-acs-request-id", request_id.encode()),
        (b"cache-control", cache),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]


class Explorer:
    """The pages under /docs and /explorer, rendered from `catalog`.

    `demo_keys` lists (label, AccessKey ID, secret) for the Explorer's key picker:
    the demo world's keys when the server runs it, else nothing.
    """

    def __init__(
        self,
        catalog: Catalog,
        demo_keys: Callable[[], list[tuple[str, str, str]]],
        demo_spaces: Callable[[], list[str]] = list,
    ):
        self._catalog = catalog
        self._demo_keys = demo_keys
        self._demo_spaces = demo_spaces
        # The catalog never changes while the server runs: render the reference once, in
        # each language.
        self._index = {lang: render_index(catalog, lang).encode() for lang in LANGUAGES}
        self._pages = {
            (lang, op.name): render_operation(catalog, op, lang).encode()
            for op in catalog
            for lang in LANGUAGES
        }
        self._static: dict[str, bytes] = {}
        self._console = render_console().encode()

    label = "pages"

    async def respond(
        self, request: WireRequest, body: BodyReader, record: CallRecord
    ) -> EncodedResponse:
        """GET only: a body sent with a page request is never read."""
        answer = self.route(request, record.request_id)
        assert answer is not None  # called for the paths it owns
        return answer

    @staticmethod
    def owns(path: str) -> bool:
        return path in ("/docs", "/explorer", "/console") or path.startswith(
            ("/docs/", "/explorer/")
        )

    def route(self, request: WireRequest, request_id: str) -> EncodedResponse | None:
        """The answer for a path under /docs or /explorer; None for any other path."""
        path = request.path
        if not self.owns(path):
            return None
        try:
            if request.method != "GET":
                raise ServiceError(
                    "InvalidAction.NotFound",
                    404,
                    f"{path} answers GET only; API calls go to / (RPC style).",
                )
            return self._get(request, request_id)
        except ServiceError as error:
            return encode_error(
                error, request_id, request.header("host") or "", secure=request.secure
            )

    def _get(self, request: WireRequest, request_id: str) -> EncodedResponse:
        path = request.path
        language = _page_language(request)
        if path in ("/docs", "/docs/"):
            return self._html(request_id, self._index[language], language=language)
        if path.rstrip("/") == "/docs/errors":
            query = dict(request.query)
            code, asked_by = query.get("Code", "")[:100], query.get("RequestId", "")[:64]
            listed = render_errors(self._catalog, code or None, asked_by or None, language)
            return self._html(request_id, listed.encode(), language=language)
        if path.startswith("/docs/"):
            action = path[len("/docs/") :].strip("/")
            page = self._pages.get((language, action))
            if page is None:
                raise self._unknown(action)
            return self._html(request_id, page, language=language)
        if path in ("/explorer", "/explorer/"):
            selected = dict(request.query).get("Action")
            explorer = render_explorer(
                self._catalog, self._demo_keys(), selected, language, self._demo_spaces()
            )
            return self._html(request_id, explorer.encode(), cache=b"no-store", language=language)
        if path == "/console":
            # The page holds no secret: the admin token is entered in it, kept for the tab.
            return self._html(request_id, self._console, language=language)
        if path == "/explorer/samples":
            return self._samples(request, request_id)
        if path.startswith("/explorer/static/"):
            return self._static_file(path[len("/explorer/static/") :], request_id)
        raise errors.invalid_action(
            f"{path} is not a page: see /docs/ for the reference and /explorer to call the API."
        )

    def _unknown(self, action: str) -> ServiceError:
        known = ", ".join(op.name for op in self._catalog)
        return errors.invalid_action(
            f"No operation {action!r} is documented here; this server answers {known}."
        )

    def _html(
        self, request_id: str, page: bytes, cache: bytes = b"no-cache", language: str = "en"
    ) -> EncodedResponse:
        headers = _headers(request_id, _HTML, cache)
        headers.append((b"content-security-policy", _CSP))
        headers.append((b"content-language", b"zh-CN" if language == "zh" else b"en"))
        headers.append((b"vary", b"Accept-Language"))
        return 200, headers, page

    def _static_file(self, name: str, request_id: str) -> EncodedResponse:
        content_type = STATIC_FILES.get(name)
        if content_type is None:
            raise errors.invalid_action(f"There is no static file {name!r}.")
        body = self._static.get(name)
        if body is None:
            body = resources.files("cams_server.explorer").joinpath("static", name).read_bytes()
            self._static[name] = body
        return 200, _headers(request_id, content_type, b"no-cache"), body

    def _samples(self, request: WireRequest, request_id: str) -> EncodedResponse:
        """`GET /explorer/samples?Action=<op>&<Param>=<value>...`: every language's sample."""
        params = dict(request.query)
        action = params.get("Action", "")
        if action not in self._catalog:
            raise self._unknown(action)
        op = self._catalog.get(action)
        values = parse_values(op, params)
        host = request.header("host") or ""
        endpoint = host if _HOST.fullmatch(host) else _FALLBACK_HOST
        protocol = "https" if request.secure else "http"
        body: dict[str, Any] = {
            "RequestId": request_id,
            "Action": op.name,
            "Endpoint": endpoint,
            "Protocol": protocol,
            "Samples": [s.to_json() for s in all_samples(op, values, endpoint, protocol)],
        }
        payload = json.dumps(body, ensure_ascii=False).encode()
        return 200, _headers(request_id, _JSON, b"no-store"), payload
