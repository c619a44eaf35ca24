"""The HTTP protocol: uvicorn's httptools protocol, answering unparseable requests in JSON.

uvicorn answers a request it cannot parse (a bad header name, a broken request line)
with a plain-text 400 before any application code runs; this protocol answers it
the way every other error is answered: a JSON body with a `RequestId`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cams_server.gateway.encoding import new_request_id
from cams_server.tls import TlsFiles

__all__ = ["GatewayHttpProtocol", "uvicorn_config"]

log = logging.getLogger("cams_server.calls")


class GatewayHttpProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        request_id = new_request_id()
        body = json.dumps(
            {
                "RequestId": request_id,
                "HostId": "",
                "Code": "MalformedRequest",
                "Message": f"The HTTP request could not be parsed ({msg}): send a well-formed "
                "HTTP/1.1 request, as the official SDKs do.",
                "Recommend": "https://api.aliyun.com/troubleshoot?q=MalformedRequest"
                f"&product=Cams&requestId={request_id}",
            }
        ).encode()
        head = (
            b"HTTP/1.1 400 Bad Request\r\n"
            b"content-type: application/json;charset=utf-8\r\n"
            b"x-acs-request-id: " + request_id.encode() + b"\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n"
        )
        log.info("%s - - - - 400 MalformedRequest (%s)", request_id, msg)
        self.transport.write(head + body)
        self.transport.close()

    def shutdown(self) -> None:
        """Close idle connections at once, TLS ones included.

        An idle TLS connection's `close()` waits for the client's close_notify, which
        a pooled SDK connection never sends; shutdown would stall for half a minute.
        """
        idle = self.cycle is None or self.cycle.response_complete
        super().shutdown()
        if idle and self.transport.get_extra_info("sslcontext") is not None:
            self.transport.abort()


def uvicorn_config(
    app: Any,
    loop: str = "uvloop",
    tls: TlsFiles | None = None,
    trusted_proxies: tuple[str, ...] = (),
) -> uvicorn.Config:
    """The uvicorn configuration every cams-server process uses.

    X-Forwarded-For / -Proto are honoured only from `trusted_proxies`: otherwise any
    client could choose its own `acs:SourceIp` and `acs:SecureTransport`.
    """
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        loop=loop,
        http=GatewayHttpProtocol,
        server_header=False,
        date_header=False,
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=list(trusted_proxies) or None,
        ssl_certfile=None if tls is None else str(tls.cert),
        ssl_keyfile=None if tls is None else str(tls.key),
    )
