"""Log formats: human text, or one JSON object per line for log pipelines.

The call log line carries `request_id`, `action`, `principal`, `status`, `code` and
`latency_ms` as fields; secrets and signatures are never logged.
"""

from __future__ import annotations

import logging

from cams_server.gateway.calls import CallLineHandler

__all__ = ["configure_logging"]


def configure_logging(level: str, fmt: str) -> None:
    # A line per call is on the hot path: skip what logging would gather and no format
    # prints (the caller's source location, thread and process names), as the logging
    # HOWTO's "Optimization" section describes.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = CallLineHandler(json_lines=fmt == "json")
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))
