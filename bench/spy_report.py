"""Where a server's time goes, from a py-spy profile in raw (collapsed-stack) format.

    py-spy record --pid PID --subprocesses --rate 100 --format raw -o profile.txt
    python bench/spy_report.py profile.txt [--us-per-call 290]

Prints the share of samples (and, given the server's CPU microseconds per call, an
estimate in microseconds per call) of each stage of a call, then the functions with the
most samples of their own and in total. A stage owns every sample whose stack passes
through one of its functions; stages are tried in order, so a stage nested in another
(the database write inside the operation) is listed first.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

__all__ = ["STAGES", "report"]

STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # The batch of a turn's first-time enablements, written from the event loop (SQLite)
    # or a thread (PostgreSQL) by the group commit, outside any call's own stack.
    ("database write (first-time enablement)", ("enable_roi_metrics (", "enable_roi_metric (")),
    ("operation (checks, authorize_space and the rest)", ("Operations.run (",)),
    ("signature V3/V1 verification", ("Authenticator.authenticate (",)),
    ("flow control and nonce (guard)", ("Gateway._admit (",)),
    ("response encoding (JSON)", ("encode_success (", "encode_error (")),
    (
        "request parsing",
        (
            "WireRequest.head (",
            "WireRequest.with_body (",
            "Gateway._resolve (",
            "parse_parameters (",
        ),
    ),
    ("the per-call log line", ("Logger.info (",)),
    ("request id", ("new_request_id (",)),
    ("ASGI send: uvicorn and the socket write", ("RequestResponseCycle.send (",)),
    ("the answers' writes (the turn's outbox)", ("AnswerOutbox.flush (",)),
    ("the log lines' write", ("CallLog.flush (",)),
    ("metrics and the log line", ("CallObserver.observe (",)),
    ("rest of the gateway app", ("GatewayApp.__call__ (", "GatewayApp.answer (")),
    ("HTTP parsing (the protocol's callbacks)", ("GatewayHttpProtocol.data_received (",)),
    ("the event loop and its sockets, outside the app", ("Runner.run (", "run_forever")),
)


# Leaf frames of a thread waiting (for work, or for PostgreSQL to answer), which py-spy does
# not always recognise as idle: left out of the shares, which are then shares of CPU work.
IDLE_LEAVES = (
    "EpollSelector.select (",
    "_worker (concurrent/futures/thread.py",
    "Condition.wait (",
    "Event.wait (",
    "Connection.wait (psycopg/",
)


def _short(frame: str) -> str:
    """`name (…/site-packages/pkg/mod.py:123)` -> `name (pkg/mod.py)`: one row per function."""
    if frame.endswith(")") and ":" in frame:
        frame = frame[: frame.rindex(":")] + ")"
    for marker in ("site-packages/", "/src/", "/lib/python3."):
        if marker in frame:
            head, _, tail = frame.partition("(")
            path = tail.split(marker, 1)[1]
            if marker == "/lib/python3.":
                path = path.split("/", 1)[1]
            return f"{head}({path}"
    return frame


def report(path: Path, us_per_call: float | None = None, top: int = 15) -> str:
    stages: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = idle = 0
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = [f for f in stack.split(";") if "(" in f]
            if frames and any(mark in frames[-1] for mark in IDLE_LEAVES):
                idle += n
                continue
            total += n
            stage = next(
                (name for name, marks in STAGES if any(m in stack for m in marks)),
                "other (threads, partial stacks)",
            )
            stages[stage] += n
            if frames:
                own[_short(frames[-1])] += n
                for frame in set(frames):
                    inclusive[_short(frame)] += n
    if not total:
        return f"{path}: no samples"

    def row(name: str, n: int) -> str:
        estimate = f"{us_per_call * n / total:7.1f} us" if us_per_call else ""
        return f"  {100 * n / total:5.1f}% {estimate}  {name}"

    out = [
        f"{path.name}: {total} busy samples ({idle} waiting ones left out)"
        + (f", {us_per_call:.0f} us CPU/call" if us_per_call else "")
    ]
    out.append(" stages of a call:")
    out += [row(name, n) for name, n in stages.most_common()]
    out.append(f" top {top} functions by own samples:")
    out += [row(name, n) for name, n in own.most_common(top)]
    out.append(f" top {top} cams_server functions by samples including callees:")
    ours = [(f, n) for f, n in inclusive.most_common() if "cams_server/" in f]
    out += [row(name, n) for name, n in ours[:top]]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--us-per-call", type=float, default=None)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    print(report(args.profile, args.us_per_call, args.top))


if __name__ == "__main__":
    main()
