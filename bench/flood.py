"""Flow-control exactness under a flood of one account, across server processes.

Sends RATE calls per second for DURATION seconds, all from one AccessKey, spread over the
given endpoints (several servers sharing Redis) and over fresh TCP connections (so that
`serve --workers N`, whose workers share one listening socket, sees them in every worker).
Each call is signed just before it is sent (its own nonce, the current time).

An admitted call (200, Code OK) was admitted by the server at some instant between the
client's send and its receipt of the answer (same machine, same clock), so the most
admitted calls in any 1-second sliding window lies between two bounds:

- proven: the most admitted calls that were each sent and answered inside one window
  [w, w + 1 s). Above 5 is a proven violation of the limit (the target: never above 5);
- possible: the most admitted calls whose send-to-answer intervals all reach into one
  window. At most 5 proves exactness; above 5 says only that the client's timing cannot
  tell (an exact sliding window admits the 6th call exactly 1 s after the 1st, so any
  jitter in answer times makes this bound exceed 5);

and a point estimate taking each call's instant as the midpoint of its send and answer.
Also reported: admitted calls per 1-second bin from the start (by midpoint), and the total
(target: at least 48 of the 50 that 5 per second allows in 10 seconds).

Any answer other than 200 OK or 400 System.LimitControl is an error: it is printed and
the exit status is 1. Targets are reported, not asserted.

    python bench/flood.py --endpoint 127.0.0.1:PORT [--endpoint ...] --key-id ID \
        --secret SECRET [--space CUSTSPACEID] [--rate 500] [--duration 10]

The last line is `FLOOD-RESULT {json}` for bench/run.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass

from presign import Reply, iso_now, read_reply, sign_request

__all__ = ["FloodResult", "analyse", "flood"]

LIMIT = 5
THROTTLED = ("System.LimitControl", "Throttling.User")
MAX_IN_FLIGHT = 256


@dataclass(frozen=True, slots=True)
class Call:
    index: int
    reply: Reply | None
    code: str
    error: str = ""


@dataclass(frozen=True, slots=True)
class FloodResult:
    calls: int
    admitted: int
    throttled: int
    errors: int
    per_second: list[int]
    max_window_proven: int
    max_window_possible: int
    max_window_midpoint: int
    possible: int
    max_admitted_rtt_ms: float
    send_lag_ms: float
    error_samples: list[str]

    def to_json(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}


def _code(body: bytes) -> str:
    try:
        return str(json.loads(body).get("Code", "?"))
    except ValueError:
        return "?"


async def _call(index: int, host: str, port: int, request: bytes) -> Call:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        return Call(index, None, "", f"connect: {exc}")
    try:
        sent = time.time()
        writer.write(request)
        reply = await asyncio.wait_for(read_reply(reader, sent), timeout=10)
        return Call(index, reply, _code(reply.body))
    except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
        return Call(index, None, "", f"{type(exc).__name__}: {exc}")
    finally:
        writer.close()


async def flood(
    endpoints: list[tuple[str, int]],
    key_id: str,
    secret: str,
    space: str | None,
    rate: float,
    duration: float,
) -> tuple[list[Call], float, float]:
    """Every call's outcome, the flood's start time and the worst lateness of a send."""
    loop = asyncio.get_running_loop()
    total = int(rate * duration)
    prefix = os.urandom(8).hex()
    gate = asyncio.Semaphore(MAX_IN_FLIGHT)
    tasks: list[asyncio.Task[Call]] = []
    lag = 0.0

    async def one(i: int, host: str, port: int, request: bytes) -> Call:
        try:
            return await _call(i, host, port, request)
        finally:
            gate.release()

    start_wall = time.time() + 0.2
    start = loop.time() + 0.2
    for i in range(total):
        host, port = endpoints[i % len(endpoints)]
        request = sign_request(
            f"{host}:{port}",
            key_id,
            secret,
            space,
            f"{prefix}f{i}",
            iso_now(),
            extra_head="connection: close\r\n",
        )
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        await gate.acquire()
        lag = max(lag, loop.time() - due)
        tasks.append(asyncio.create_task(one(i, host, port, request)))
    return list(await asyncio.gather(*tasks)), start_wall, lag


def _max_in_window(times: list[float], width: float) -> int:
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _kind(call: Call) -> str:
    if call.reply is None:
        return "error"
    if call.reply.status == 200 and call.code == "OK":
        return "admitted"
    if call.reply.status == 400 and call.code in THROTTLED:
        return "throttled"
    return "error"


def _describe(call: Call) -> str:
    if call.reply is None:
        return f"call {call.index}: {call.error}"
    return f"call {call.index}: {call.reply.status} {call.reply.body[:300]!r}"


def analyse(calls: list[Call], start: float, duration: float, lag: float) -> FloodResult:
    kinds = [_kind(c) for c in calls]
    admitted = sorted(
        (c.reply for c, k in zip(calls, kinds, strict=True) if k == "admitted" and c.reply),
        key=lambda r: (r.sent + r.received) / 2,
    )
    bad = [c for c, k in zip(calls, kinds, strict=True) if k == "error"]
    mids = [(r.sent + r.received) / 2 for r in admitted]
    per_second = [0] * max(1, int(duration + 0.999) + 1)
    for t in mids:
        slot = int(t - start)
        if 0 <= slot < len(per_second):
            per_second[slot] += 1
    by_send = sorted(admitted, key=lambda r: r.sent)
    proven = possible = 0
    for i, first in enumerate(by_send):
        # the window [first.sent, +1 s): calls sent and answered inside it
        proven = max(
            proven,
            sum(1 for r in by_send[i:] if r.sent < first.sent + 1 and r.received < first.sent + 1),
        )
    for r0 in admitted:
        # the window [r0.received, +1 s): calls whose interval reaches into it
        possible = max(
            possible,
            sum(1 for r in by_send if r.sent < r0.received + 1 and r.received >= r0.received),
        )
    return FloodResult(
        calls=len(calls),
        admitted=len(admitted),
        throttled=kinds.count("throttled"),
        errors=len(bad),
        per_second=per_second,
        max_window_proven=proven,
        max_window_possible=possible,
        max_window_midpoint=_max_in_window(mids, 1.0),
        possible=int(LIMIT * duration),
        max_admitted_rtt_ms=max(((r.received - r.sent) * 1000 for r in admitted), default=0.0),
        send_lag_ms=lag * 1000,
        error_samples=[_describe(c) for c in bad[:5]],
    )


def report(result: FloodResult, duration: float) -> None:
    print(f"flood: {result.calls} calls of one account in {duration:g}s")
    print(f"  admitted per 1-second bin: {result.per_second}")
    print(
        f"  admitted {result.admitted} (target >= {result.possible - 2} of {result.possible}: "
        f"{'met' if result.admitted >= result.possible - 2 else 'MISSED'}), "
        f"throttled {result.throttled}, errors {result.errors}"
    )
    verdict = "MISSED" if result.max_window_proven > LIMIT else "met"
    if result.max_window_proven <= LIMIT < result.max_window_possible:
        verdict += ": no window provably above it"
    print(
        f"  max admitted in any 1-second window: {result.max_window_proven} proven, "
        f"{result.max_window_possible} possible, {result.max_window_midpoint} by midpoint "
        f"(target <= {LIMIT}: {verdict})"
    )
    print(
        f"  slowest admitted call {result.max_admitted_rtt_ms:.1f} ms; "
        f"worst send lateness {result.send_lag_ms:.1f} ms"
    )
    if result.errors:
        print(f"  ERROR: {result.errors} calls got neither OK nor System.LimitControl:")
        for sample in result.error_samples:
            print(f"    {sample}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--endpoint", action="append", required=True, help="HOST:PORT")
    parser.add_argument("--key-id", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--space", default=None, help="CustSpaceId (default: account-wide)")
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    endpoints = []
    for endpoint in args.endpoint:
        host, _, port = endpoint.rpartition(":")
        if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
            parser.error(f"{endpoint}: the flood only targets this machine (127.0.0.1)")
        endpoints.append((host.strip("[]"), int(port)))
    calls, start, lag = asyncio.run(
        flood(endpoints, args.key_id, args.secret, args.space, args.rate, args.duration)
    )
    result = analyse(calls, start, args.duration, lag)
    report(result, args.duration)
    print("FLOOD-RESULT " + json.dumps(result.to_json()), flush=True)
    sys.exit(1 if result.errors else 0)


if __name__ == "__main__":
    main()
