"""ROI statistics at scale: webhook ingestion rate, and metric-read latency at 10M messages.

    .venv/bin/python bench/roi_statistics.py [--events 200000] [--reads 200]

1. Ingestion: signed WhatsApp webhook deliveries (500 statuses each, the size Meta
   batches) are POSTed to /webhooks/whatsapp of a real `cams-server serve` on SQLite,
   one process, from 4 client threads; events per second are counted from the server's
   own answers (every event must be accepted and counted: their messages' sent records
   and the space's enablement are loaded first, so each delivery is rolled up). A
   baseline in the same run: the same events through the ingestion function in-process,
   without HTTP.
2. Reads: a space whose half-hour roll-ups hold 10,000,000 messages over 90 days (3
   templates x 2 languages x 4,320 half hours, plus clicks) is read with
   GetChatappTemplateMetric over 90 days of DAILY data through the official V2 SDK;
   p50 and p99 of the calls are printed (target: p99 under 20 ms). The roll-ups are
   written directly, as the ingestion path would have left them: reads cost buckets,
   not messages, which is the point being measured.

Targets are printed next to the results, never asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "cams_server.cli"]
SECRET = "bench-app-secret"
ADMIN_TOKEN = "bench-admin-token"
WORLD = """
[[accounts]]
id = "1000000000000001"
name = "bench"
  [[accounts.access_keys]]
  id = "LTAI5tBenchRoot00001"
  secret = "bench-root-secret"
  [[accounts.spaces]]
  id = "cams-bench-main"
"""
DAY_MS = 86_400_000
HALF_HOUR_MS = 1_800_000


def start_server(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {
        **os.environ,
        "CAMS_HOME": str(home),
        "CAMS_WHATSAPP_APP_SECRET": SECRET,
        "CAMS_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    process = subprocess.Popen(
        [
            *CLI,
            "serve",
            "--port",
            "0",
            "--no-demo",
            "--log-level",
            "warning",
            "--world",
            str(home / "world.toml"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while True:
        ready, _, _ = select.select([process.stdout], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            raise SystemExit("the server did not start")
        line = process.stdout.readline().decode()
        if "listening on" in line:
            return process, line.strip().rsplit("//", 1)[1]


def payload(first: int, count: int, now_s: int) -> bytes:
    statuses = [
        {
            "id": f"wamid.bench.{first + i}",
            "status": "delivered",
            "timestamp": str(now_s),
            "recipient_id": "8613900000000",
            "pricing": {"billable": True, "pricing_model": "CBP", "category": "marketing"},
        }
        for i in range(count)
    ]
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {"messaging_product": "whatsapp", "statuses": statuses},
                    }
                ],
            }
        ],
    }
    return json.dumps(body).encode()


def load_sent_records(home: Path, events: int) -> None:
    """The messages the deliveries are about, sent a minute ago by an enabled space."""
    from decimal import Decimal

    from cams_server.cams.ingestion import ingest_records
    from cams_server.model.outcomes import SentMessage
    from cams_server.ram.directory import Directory
    from cams_server.store.database import Database
    from cams_server.store.enablements import enable_roi_metric
    from cams_server.store.keyring import key_source
    from cams_server.store.world_repo import load_world_from

    db = Database(f"sqlite:///{home / 'cams.db'}", key_source(home))  # the server's key
    now_ms = int(time.time() * 1000)
    enable_roi_metric(
        db,
        "1000000000000001",
        "cams-bench-main",
        (now_ms - 3_600_000) * 1000,
        "acs:ram::1000000000000001:root",
    )
    directory = Directory(load_world_from(db))
    for first in range(0, events, 20_000):
        ingest_records(
            db,
            directory,
            [
                SentMessage(
                    f"wamid.bench.{i}",
                    "cams-bench-main",
                    "8613800000000",
                    "welcome",
                    "en",
                    Decimal("0.0147"),
                    "USD",
                    now_ms - 60_000,
                )
                for i in range(first, min(first + 20_000, events))
            ],
            [],
        )
    db.dispose()


def ingestion(endpoint: str, events: int, batch: int, threads: int) -> float:
    now_s = int(time.time())
    bodies = [payload(i, batch, now_s) for i in range(0, events, batch)]
    signed = [
        (b, "sha256=" + hmac.new(SECRET.encode(), b, hashlib.sha256).hexdigest()) for b in bodies
    ]
    accepted = [0] * threads
    counted = [0] * threads
    errors: list[str] = []

    def worker(n: int) -> None:
        with httpx.Client(base_url=f"http://{endpoint}", timeout=60) as client:
            for body, signature in signed[n::threads]:
                response = client.post(
                    "/webhooks/whatsapp",
                    content=body,
                    headers={"content-type": "application/json", "x-hub-signature-256": signature},
                )
                if response.status_code != 200:
                    errors.append(f"{response.status_code} {response.text[:200]}")
                    return
                answer = response.json()
                accepted[n] += answer["Events"]
                counted[n] += answer["Counted"]

    start = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    if errors or sum(accepted) != events or sum(counted) != events:
        raise SystemExit(
            f"ERROR: not every event was accepted and counted: {errors[:3]} "
            f"{sum(accepted)} accepted, {sum(counted)} counted of {events}"
        )
    return events / elapsed


def in_process_baseline(home: Path, events: int, batch: int) -> float:
    from cams_server.cams.ingestion import ingest_records, parse_webhook
    from cams_server.ram.directory import Directory
    from cams_server.store.database import Database
    from cams_server.store.keyring import key_source
    from cams_server.store.world_repo import apply_world, load_world_from
    from cams_server.world.toml_file import parse_world

    base = home / "baseline"
    base.mkdir()
    db = Database(f"sqlite:///{base / 'cams.db'}", key_source(base))
    db.migrate()
    apply_world(db, parse_world(WORLD), "bench")
    db.dispose()
    load_sent_records(base, events)
    db = Database(f"sqlite:///{base / 'cams.db'}", key_source(base))
    directory = Directory(load_world_from(db))
    now_s = int(time.time())
    bodies = [json.loads(payload(i, batch, now_s)) for i in range(0, events, batch)]
    start = time.perf_counter()
    for body in bodies:
        ingest_records(db, directory, [], parse_webhook(body))
    return events / (time.perf_counter() - start)


def fill_rollups(home: Path, messages: int) -> None:
    """Roll-ups as ingestion leaves them for `messages` sends over the last 90 days."""
    import sqlite3

    conn = sqlite3.connect(home / "cams.db")
    end = int(time.time() * 1000)
    first = end - 90 * DAY_MS
    first -= first % HALF_HOUR_MS
    buckets = list(range(first, end, HALF_HOUR_MS))
    keys = [(t, lang) for t in ("welcome", "promo", "renewal") for lang in ("en", "es")]
    per = messages // (len(buckets) * len(keys))
    rows = [
        (
            "1000000000000001",
            "cams-bench-main",
            t,
            lang,
            b,
            per,
            per * 9 // 10,
            per * 6 // 10,
            per * 14_700,
        )
        for t, lang in keys
        for b in buckets
    ]
    clicks = [
        ("1000000000000001", "cams-bench-main", t, lang, b, kind, text, per // 20)
        for t, lang in keys
        for b in buckets
        for kind, text in (("url_button", "Shop now"), ("quick_reply_button", "Stop"))
    ]
    day_rows = _by_day(rows, 4, (5, 6, 7, 8))
    day_clicks = _by_day(clicks, 4, (7,))
    with conn:
        conn.executemany("INSERT OR REPLACE INTO template_buckets VALUES (?,?,?,?,?,?,?,?,?)", rows)
        conn.executemany("INSERT OR REPLACE INTO click_buckets VALUES (?,?,?,?,?,?,?,?)", clicks)
        conn.executemany(
            "INSERT OR REPLACE INTO template_days VALUES (?,?,?,?,?,?,?,?,?)", day_rows
        )
        conn.executemany("INSERT OR REPLACE INTO click_days VALUES (?,?,?,?,?,?,?,?)", day_clicks)
        conn.execute(
            "INSERT OR IGNORE INTO roi_enablements "
            "VALUES ('1000000000000001', 'cams-bench-main', ?, ?)",
            ((end - 91 * DAY_MS) * 1000, "acs:ram::1000000000000001:root"),
        )
    conn.close()
    print(
        f"  roll-ups: {len(rows)} template, {len(clicks)} click half-hour buckets and "
        f"{len(day_rows)}, {len(day_clicks)} daily "
        f"({per * len(rows):,} messages)"
    )


def _by_day(rows: list[tuple], at: int, sums: tuple[int, ...]) -> list[tuple]:  # type: ignore[type-arg]
    """The daily roll-up rows ingestion keeps beside the half-hourly ones."""
    days: dict[tuple, list] = {}  # type: ignore[type-arg]
    for row in rows:
        key = tuple(
            row[i] - row[i] % DAY_MS if i == at else row[i]
            for i in range(len(row))
            if i not in sums
        )
        total = days.setdefault(key, [0] * len(sums))
        for n, i in enumerate(sums):
            total[n] += row[i]
    out = []
    for key, total in days.items():
        row = list(key)
        for n, i in enumerate(sums):
            row.insert(i, total[n])
        out.append(tuple(row))
    return out


def reads(endpoint: str, count: int) -> list[float]:
    from alibabacloud_cams20200606.client import Client
    from alibabacloud_cams20200606.models import GetChatappTemplateMetricRequest
    from alibabacloud_tea_openapi.models import Config

    client = Client(
        Config(
            access_key_id="LTAI5tBenchRoot00001",
            access_key_secret="bench-root-secret",
            endpoint=endpoint,
            protocol="http",
        )
    )
    end = int(time.time() * 1000)
    timings = []
    for i in range(count):
        request = GetChatappTemplateMetricRequest(
            template_code="welcome",
            start=end - 90 * DAY_MS + DAY_MS,
            end=end,
            granularity="DAILY",
            cust_space_id="cams-bench-main",
        )
        started = time.perf_counter()
        body = client.get_chatapp_template_metric(request).body
        timings.append((time.perf_counter() - started) * 1000)
        if i == 0:
            sent = sum(d.sent_count for d in body.data)
            print(f"  a read: {len(body.data)} DAILY entries, {sent:,} messages sent")
        time.sleep(0.021)  # stay under 50 reads per second
    return timings


def raw_reads(endpoint: str, count: int) -> list[float]:
    """The same read signed here and sent with a bare HTTP client: the server's time,
    without the SDK's own (it builds a model object per Data entry)."""
    import uuid
    from datetime import UTC, datetime
    from urllib.parse import urlencode

    from cams_server.wire.signing import (
        EMPTY_SHA256,
        v3_canonical_request,
        v3_signature,
        v3_string_to_sign,
    )

    end = int(time.time() * 1000)
    query = {
        "TemplateCode": "welcome",
        "Start": str(end - 89 * DAY_MS),
        "End": str(end),
        "Granularity": "DAILY",
        "CustSpaceId": "cams-bench-main",
    }
    timings = []
    with httpx.Client(base_url=f"http://{endpoint}") as client:
        for _ in range(count):
            headers = {
                "host": endpoint,
                "x-acs-action": "GetChatappTemplateMetric",
                "x-acs-version": "2020-06-06",
                "x-acs-date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "x-acs-signature-nonce": uuid.uuid4().hex,
                "x-acs-content-sha256": EMPTY_SHA256,
            }
            signed = sorted(headers)
            canonical = v3_canonical_request(
                "GET",
                "/",
                list(query.items()),
                {k: [v] for k, v in headers.items()},
                signed,
                EMPTY_SHA256,
            )
            signature = v3_signature("bench-root-secret", v3_string_to_sign(canonical))
            headers["authorization"] = (
                f"ACS3-HMAC-SHA256 Credential=LTAI5tBenchRoot00001,"
                f"SignedHeaders={';'.join(signed)},Signature={signature}"
            )
            started = time.perf_counter()
            response = client.get(f"/?{urlencode(query)}", headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"ERROR: {response.status_code} {response.text[:300]}")
            time.sleep(0.021)
    return timings


def console_views(endpoint: str, count: int) -> list[float]:
    """The ROI console's 90-day view of the space (DAILY): what the page loads, through
    the admin endpoint, timed from the request to the whole JSON."""
    end = int(time.time() * 1000)
    params = {
        "SpaceId": "cams-bench-main",
        "Start": str(end - 89 * DAY_MS),
        "End": str(end),
        "Granularity": "DAILY",
    }
    timings = []
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=f"http://{endpoint}", headers=headers, timeout=60) as client:
        for i in range(count):
            started = time.perf_counter()
            response = client.get("/_cams/console/space", params=params)
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"ERROR: {response.status_code} {response.text[:300]}")
            if i == 0:
                view = response.json()
                series = sum(len(t["Data"]) for t in view["Templates"])
                print(
                    f"  a view: {len(view['Templates'])} template series, {series} points, "
                    f"{view['Totals']['Sent']:,} messages sent"
                )
    return timings


def _percentiles(timings: list[float]) -> tuple[float, float]:
    return statistics.median(timings), sorted(timings)[int(len(timings) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--messages", type=int, default=10_000_000)
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cams-bench-stats-") as tmp:
        home = Path(tmp)
        (home / "world.toml").write_text(WORLD)
        print("== webhook ingestion into SQLite, one process")
        baseline = in_process_baseline(home, args.events, args.batch)
        process, endpoint = start_server(home)
        try:
            load_sent_records(home, args.events)
            rate = ingestion(endpoint, args.events, args.batch, args.threads)
            print(f"  in-process ingestion (baseline, no HTTP): {baseline:,.0f} events/s")
            print(
                f"  through POST /webhooks/whatsapp: {rate:,.0f} events/s "
                f"({rate / baseline:.2f}x the baseline); target >= 20,000: "
                f"{'met' if rate >= 20_000 else 'MISSED'}"
            )
            print("== GetChatappTemplateMetric, 90 days DAILY, 10M messages")
            fill_rollups(home, args.messages)
            p50, p99 = _percentiles(raw_reads(endpoint, args.reads))
            print(
                f"  {args.reads} reads, HTTP client: p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
                f"target p99 < 20 ms: {'met' if p99 < 20 else 'MISSED'}"
            )
            p50, p99 = _percentiles(reads(endpoint, args.reads))
            print(
                f"  {args.reads} reads through the V2 SDK (its model building included): "
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
            )
            print("== the ROI console's 90-day view of that space (GET /_cams/console/space)")
            timings = console_views(endpoint, 20)
            p50, worst = statistics.median(timings), max(timings)
            print(
                f"  20 views: first {timings[0]:.0f} ms, p50 {p50:.0f} ms, slowest {worst:.0f} ms; "
                f"target under 1 s: {'met' if worst < 1000 else 'MISSED'}"
            )
        finally:
            process.terminate()
            process.wait(30)
            assert process.stdout is not None
            process.stdout.close()


if __name__ == "__main__":
    main()
