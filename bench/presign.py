"""Pre-signed V3 EnableWhatsappROIMetric calls for the benchmark, and the world they need.

The fleet: `accounts` accounts, each with one root AccessKey and `spaces` spaces. Call i
goes to account `i % accounts` (round-robin), so one account's consecutive calls are
`accounts` calls apart: at 20,000 calls per second over 10,000 accounts that is two calls
per account per second, well under the limit of five.

Of every ten calls of an account, one enables a space for the first time (a durable
write) and nine re-enable the space it enabled last (the idempotent fast path). Space 0
of every account is enabled by a warm-up round (`warmup_requests`) before the measured
run, so a repeat always has an enabled space to repeat. The first-time calls are spread
evenly: account a's call in round r is a first-time call when (a + r) % 10 == 0.

Requests are raw HTTP/1.1 bytes, signed with `cams_server.wire.signing` (the module
the server verifies with), each with its own nonce and the current time; every request
ends with the blank line that ends its head (the body is empty), which is how the Lua
replay script splits a file of them.

    python bench/presign.py world --accounts 10000 --spaces 6 --tag t1 --seed s out.toml
    python bench/presign.py sign --endpoint 127.0.0.1:18080 --accounts 10000 --tag t1 \
        --seed s --count 200000 --threads 1 out/requests
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from cams_server.wire.signing import (
    EMPTY_SHA256,
    V3_ALGORITHM,
    v3_canonical_request,
    v3_signature,
    v3_string_to_sign,
)

__all__ = [
    "ACTION",
    "VERSION",
    "Fleet",
    "Reply",
    "plan",
    "presign",
    "send_all",
    "sign_request",
    "spaces_needed",
    "warmup_requests",
    "write_world",
]

ACTION = "EnableWhatsappROIMetric"
VERSION = "2020-06-06"
ACCOUNT_BASES = {"Bench": 9_100_000_000_000_000, "Flood": 9_200_000_000_000_000}
FIRST_TIME_EVERY = 10
SIGNED = (
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
)


@dataclass(frozen=True, slots=True)
class Fleet:
    accounts: int
    spaces: int  # per account
    tag: str  # unique per configuration and run: every space is new to the database
    seed: str  # makes the secrets of one run unguessable from another's
    kind: str = "Bench"  # or "Flood": 16-digit account ids far from the demo world's

    def account_id(self, a: int) -> str:
        return str(ACCOUNT_BASES[self.kind] + a)

    def key_id(self, a: int) -> str:
        return f"LTAI5t{self.kind}{a:07d}"

    def secret(self, a: int) -> str:
        return f"bench-{self.seed}-{a:07d}"

    def space_id(self, a: int, k: int) -> str:
        return f"bench-{self.tag}-{a}-{k}"


def spaces_needed(accounts: int, count: int) -> int:
    """Spaces per account for `count` measured calls (space 0 is the warm-up's)."""
    rounds = math.ceil(count / accounts)
    return 2 + rounds // FIRST_TIME_EVERY


def write_world(fleet: Fleet, path: Path) -> None:
    """A world file declaring the fleet (plain text: tomllib reads, nothing here writes)."""
    with path.open("w", encoding="utf-8") as out:
        out.write('region = "ap-southeast-1"\n')
        for a in range(fleet.accounts):
            out.write(
                f'\n[[accounts]]\nid = "{fleet.account_id(a)}"\nname = "{fleet.kind.lower()}{a}"\n'
                "cams = true\n"
                f'  [[accounts.access_keys]]\n  id = "{fleet.key_id(a)}"\n'
                f'  secret = "{fleet.secret(a)}"\n'
            )
            for k in range(fleet.spaces):
                out.write(f'  [[accounts.spaces]]\n  id = "{fleet.space_id(a, k)}"\n')


def plan(fleet: Fleet, count: int, start: int = 0) -> Iterator[tuple[int, int, bool]]:
    """(account, space, first_time) of each measured call, in sending order; `start`
    continues an earlier plan (the soak signs its minutes one after another)."""
    for i in range(start, start + count):
        a, r = i % fleet.accounts, i // fleet.accounts
        r0 = (-a) % FIRST_TIME_EVERY  # the first round in which account a enables a new space
        first = (a + r) % FIRST_TIME_EVERY == 0
        k = 0 if r < r0 else 1 + (r - r0) // FIRST_TIME_EVERY
        if k >= fleet.spaces:
            raise ValueError(
                f"call {i} needs space {k} of account {a}; the fleet has {fleet.spaces}"
            )
        yield a, k, first


def iso_now() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign_request(
    host: str,
    key_id: str,
    secret: str,
    space_id: str | None,
    nonce: str,
    date: str,
    extra_head: str = "",
) -> bytes:
    """One raw V3-signed POST / (parameters in the query, empty body), as the SDKs send it."""
    query = [] if space_id is None else [("CustSpaceId", space_id)]
    headers = {
        "host": host,
        "x-acs-action": ACTION,
        "x-acs-content-sha256": EMPTY_SHA256,
        "x-acs-date": date,
        "x-acs-signature-nonce": nonce,
        "x-acs-version": VERSION,
    }
    canonical = v3_canonical_request(
        "POST", "/", query, {k: [v] for k, v in headers.items()}, SIGNED, EMPTY_SHA256
    )
    signature = v3_signature(secret, v3_string_to_sign(canonical))
    target = "/" if space_id is None else f"/?CustSpaceId={quote(space_id, safe='~')}"
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        f"POST {target} HTTP/1.1\r\n{head}"
        f"authorization: {V3_ALGORITHM} Credential={key_id},"
        f"SignedHeaders={';'.join(SIGNED)},Signature={signature}\r\n"
        f"content-length: 0\r\n{extra_head}\r\n"
    ).encode()


@dataclass(frozen=True, slots=True)
class SignStats:
    count: int
    first_time: int
    files: tuple[Path, ...]
    seconds: float


def _nonce_prefix() -> str:
    return os.urandom(8).hex()


def warmup_requests(fleet: Fleet, host: str) -> list[bytes]:
    """One call per account enabling its space 0 (a first-time, durable write each)."""
    date, prefix = iso_now(), _nonce_prefix()
    return [
        sign_request(
            host, fleet.key_id(a), fleet.secret(a), fleet.space_id(a, 0), f"{prefix}w{a}", date
        )
        for a in range(fleet.accounts)
    ]


def presign(
    fleet: Fleet, host: str, count: int, out_prefix: Path, threads: int, start: int = 0
) -> SignStats:
    """Sign `count` measured calls into `out_prefix.0` .. `out_prefix.<threads-1>`.

    wrk thread t replays file t; account a's calls all go to file `a % threads`, so each
    account's calls keep their order (and their spacing) within one thread.
    """
    started = time.perf_counter()
    date, prefix = iso_now(), _nonce_prefix()
    files = tuple(out_prefix.with_name(f"{out_prefix.name}.{t}") for t in range(threads))
    outs = [f.open("wb") for f in files]
    first_time = 0
    try:
        buffers: list[list[bytes]] = [[] for _ in range(threads)]
        for i, (a, k, first) in enumerate(plan(fleet, count, start), start):
            first_time += first
            buf = buffers[a % threads]
            buf.append(
                sign_request(
                    host,
                    fleet.key_id(a),
                    fleet.secret(a),
                    fleet.space_id(a, k),
                    f"{prefix}{i}",
                    date,
                )
            )
            if len(buf) >= 4096:
                outs[a % threads].write(b"".join(buf))
                buf.clear()
        for t, buf in enumerate(buffers):
            outs[t].write(b"".join(buf))
    finally:
        for out in outs:
            out.close()
    return SignStats(count, first_time, files, time.perf_counter() - started)


# -- a small HTTP/1.1 client for the warm-up and the flood ---------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: float  # time.time() just before the request was written
    received: float  # time.time() once the response was read


async def read_reply(reader: asyncio.StreamReader, sent: float) -> Reply:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Reply(status, headers, body, sent, time.time())


async def send_all(
    host: str, port: int, requests: Sequence[bytes], connections: int = 64
) -> tuple[Counter[tuple[int, str]], list[bytes]]:
    """Send every request once over keep-alive connections; (status, Code) counts and the
    first few bodies that were not 200."""
    counts: Counter[tuple[int, str]] = Counter()
    bad: list[bytes] = []
    pending = iter(requests)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for request in pending:
                writer.write(request)
                reply = await read_reply(reader, time.time())
                counts[(reply.status, _code(reply.body))] += 1
                if reply.status != 200 and len(bad) < 5:
                    bad.append(reply.body)
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(min(connections, len(requests)) or 1)))
    return counts, bad


def _code(body: bytes) -> str:
    marker = body.find(b'"Code":')
    if marker < 0:
        return "?"
    rest = body[marker + 7 :].lstrip()
    return rest[1 : rest.find(b'"', 1)].decode("utf-8", "replace")


def _main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    world = sub.add_parser("world", help="write the fleet's world file")
    sign = sub.add_parser("sign", help="pre-sign measured calls into per-thread files")
    for p in (world, sign):
        p.add_argument("--accounts", type=int, default=10_000)
        p.add_argument("--tag", required=True)
        p.add_argument("--seed", required=True)
    world.add_argument("--spaces", type=int, default=6)
    world.add_argument("out", type=Path)
    sign.add_argument("--spaces", type=int, default=None, help="default: as many as needed")
    sign.add_argument("--endpoint", required=True, help="host:port, as sent in Host")
    sign.add_argument("--count", type=int, required=True)
    sign.add_argument("--threads", type=int, default=1)
    sign.add_argument("out", type=Path, help="file prefix; writes PREFIX.0 .. PREFIX.<t-1>")
    args = parser.parse_args(None if argv is None else list(argv))
    if args.command == "world":
        write_world(Fleet(args.accounts, args.spaces, args.tag, args.seed), args.out)
        print(f"wrote {args.out}: {args.accounts} accounts x {args.spaces} spaces")
        return
    spaces = args.spaces or spaces_needed(args.accounts, args.count)
    stats = presign(
        Fleet(args.accounts, spaces, args.tag, args.seed),
        args.endpoint,
        args.count,
        args.out,
        args.threads,
    )
    print(
        f"signed {stats.count} calls ({stats.first_time} first-time) in {stats.seconds:.1f}s "
        f"into {', '.join(map(str, stats.files))}"
    )


if __name__ == "__main__":
    _main()
