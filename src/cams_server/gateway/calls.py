"""What every call shares, on the ASGI path and on the protocol's direct RPC path: the
answer to an error, the call's log line and its metrics.

The log line is on the hot path. Through `logging` it costs a `LogRecord`, a format and a
write per call; when logging goes to a stream through the handler `serve` installs
(`CallLineHandler`), `CallLog` formats the line itself, the same way, and writes the lines
of one event-loop turn in one write (flushed at the end of the turn, and at shutdown).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import TextIO

from cams_server.gateway.metrics import ServerMetrics
from cams_server.gateway.pipeline import CallRecord
from cams_server.wire import errors
from cams_server.wire.encoding import EncodedResponse, encode_error
from cams_server.wire.errors import ServiceError

__all__ = [
    "CALL_FIELDS",
    "CallLineHandler",
    "CallLog",
    "CallObserver",
    "JsonFormatter",
    "TextFormatter",
    "error_answer",
]

log = logging.getLogger("cams_server.calls")

CALL_FIELDS = (
    "request_id",
    "client",
    "method",
    "action",
    "principal",
    "status",
    "code",
    "latency_ms",
)


def _json_time(created: float) -> str:
    return (datetime.fromtimestamp(created, tz=UTC).isoformat(timespec="milliseconds")).replace(
        "+00:00", "Z"
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per line (`--log-format json`)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": _json_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CALL_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time level logger message`, with the time formatted once per second, not per line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self._second = -1
        self._text = ""
        self._millisecond = -1
        self._millisecond_text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return self.time_text(record.created)

    def time_text(self, created: float) -> str:
        millisecond = int(created * 1000)
        if millisecond == self._millisecond:  # calls of one millisecond share the text
            return self._millisecond_text
        second = millisecond // 1000
        if second != self._second:
            self._second = second
            self._text = datetime.fromtimestamp(second).strftime("%Y-%m-%d %H:%M:%S")
        self._millisecond = millisecond
        self._millisecond_text = f"{self._text},{millisecond - second * 1000:03d}"
        return self._millisecond_text


class CallLineHandler(logging.StreamHandler[TextIO]):
    """The handler `serve` logs through; `CallLog` writes call lines to its stream itself."""

    def __init__(self, json_lines: bool) -> None:
        super().__init__()
        self.json_lines = json_lines
        self.text = TextFormatter()
        self.setFormatter(JsonFormatter() if json_lines else self.text)


class CallLog:
    """The line each call logs (logger `cams_server.calls`, INFO)."""

    def __init__(self) -> None:
        self._pending: list[str] = []
        self._handler: CallLineHandler | None = None
        for handler in logging.getLogger().handlers:
            if isinstance(handler, CallLineHandler):
                self._handler = handler

    def write(
        self, record: CallRecord, client: str, method: str, now: float, elapsed: float
    ) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        message = (
            f"{record.request_id} {client} {method} {record.action or '-'} "
            f"{record.principal or '-'} {record.status} {record.code} {elapsed * 1000:.1f}ms"
        )
        handler = self._handler
        if handler is None:  # logging as the embedding application configured it
            log.info(message, extra=self._fields(record, client, method, elapsed))
            return
        if handler.json_lines:
            entry = {
                "time": _json_time(now),
                "level": "info",
                "logger": log.name,
                "message": message,
                **self._fields(record, client, method, elapsed),
            }
            line = json.dumps(entry, ensure_ascii=False)
        else:
            line = f"{handler.text.time_text(now)} INFO {log.name} {message}"
        if not self._pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self._pending.append(line)

    def flush(self) -> None:
        """Write the lines waiting (one write for the loop turn's calls)."""
        if not self._pending or self._handler is None:
            return
        lines, self._pending = self._pending, []
        handler = self._handler
        handler.acquire()
        try:
            handler.stream.write("\n".join(lines) + "\n")
            handler.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing to be done
            pass
        finally:
            handler.release()

    @staticmethod
    def _fields(record: CallRecord, client: str, method: str, elapsed: float) -> dict[str, object]:
        return {
            "request_id": record.request_id,
            "client": client,
            "method": method,
            "action": record.action,
            "principal": record.principal,
            "status": record.status,
            "code": record.code,
            "latency_ms": round(elapsed * 1000, 3),
        }


class CallObserver:
    """A call's metrics and log line, once it is answered."""

    def __init__(self, metrics: ServerMetrics | None, call_log: CallLog) -> None:
        self._metrics = metrics
        self.call_log = call_log

    def observe(
        self, record: CallRecord, client: str, method: str, now: float, elapsed: float
    ) -> None:
        if self._metrics is not None:
            self._metrics.observe(record.action or "-", record.code, elapsed)
        self.call_log.write(record, client, method, now, elapsed)


def error_answer(
    record: CallRecord, host: str, error: Exception, secure: bool = False
) -> EncodedResponse:
    """The answer to a call that raised `error`: a `ServiceError` as itself, anything else
    as `InternalError`, logged with its traceback (call it in the `except` block). Every
    call gets a JSON answer."""
    if not isinstance(error, ServiceError):
        log.exception("%s: unexpected failure", record.request_id)
        error = errors.internal_error()
    record.code, record.status = error.code, error.status
    return encode_error(error, record.request_id, host, secure=secure)
