"""Log formats: human text, or one JSON object per line for log pipelines.

The call log line carries `request_id`, `action`, `principal`, `status`, `code` and
`latency_ms` as fields; secrets and signatures are never logged.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

__all__ = ["CALL_FIELDS", "JsonFormatter", "configure_logging"]

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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
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

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._text = super().formatTime(record, datefmt)[:-4]
        return f"{self._text},{int(record.msecs):03d}"


def configure_logging(level: str, fmt: str) -> None:
    # A line per call is on the hot path: skip what logging would gather and no format
    # prints (the caller's source location, thread and process names), as the logging
    # HOWTO's "Optimization" section describes.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))
