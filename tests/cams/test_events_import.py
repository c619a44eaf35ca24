"""`cams-server events import FILE.jsonl`: bulk message outcomes, all or nothing.

The import writes to the data directory of a running server (thread mode, same
CAMS_HOME), and what it recorded is read back through the official V2 SDK.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_cams20200606.models import GetChatappTemplateMetricRequest
from click.testing import CliRunner

from cams_server.cli import cli
from cams_server.clock import ManualClock
from cams_server.testing import CamsServer
from tests.sdk.clients import enable, v3_client

MAIN = "cams-acme-main"
DAY = 86_400_000


@pytest.fixture
def server(rich_world: Path) -> Iterator[CamsServer]:
    with CamsServer(world=rich_world, clock=ManualClock()) as running:
        assert enable(v3_client(running.endpoint, "acme-root"), MAIN)["Code"] == "OK"
        yield running


def import_file(server: CamsServer, path: Path) -> Any:
    return CliRunner().invoke(
        cli, ["events", "import", str(path)], env={"CAMS_HOME": str(server.home)}
    )


def good_lines(t: int) -> list[dict[str, Any]]:
    """Two messages sent after the enablement at `t`, with a funnel of outcomes."""

    def sent(message_id: str, at: int) -> dict[str, Any]:
        return {
            "type": "sent",
            "message_id": message_id,
            "space_id": MAIN,
            "phone_number": "8613800000001",
            "template_code": "bulk",
            "language": "en",
            "cost": "0.02",
            "currency": "USD",
            "sent_at": at,
        }

    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((t + 60_000) // 1000 + 1))
    return [
        sent("bulk-1", t + 60_000),
        {**sent("bulk-2", 0), "sent_at": iso},  # ISO 8601 works too
        {"type": "status", "message_id": "bulk-1", "status": "delivered", "timestamp": t + 70_000},
        {"type": "status", "message_id": "bulk-2", "status": "delivered", "timestamp": t + 80_000},
        {"type": "status", "message_id": "bulk-1", "status": "read", "timestamp": t + 90_000},
        {
            "type": "click",
            "message_id": "bulk-1",
            "button_type": "url_button",
            "button_content": "Open",
            "timestamp": t + 95_000,
        },
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "statuses": [
                                    {
                                        "id": "bulk-2",
                                        "status": "read",
                                        "timestamp": str((t + 100_000) // 1000),
                                        "recipient_id": "6512345678",
                                        "pricing": {
                                            "billable": True,
                                            "pricing_model": "CBP",
                                            "category": "marketing",
                                        },
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        },
    ]


def write_jsonl(path: Path, records: list[Any], blank_after: int | None = None) -> Path:
    lines = [json.dumps(r) for r in records]
    if blank_after is not None:
        lines.insert(blank_after, "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def figures(server: CamsServer, t: int) -> tuple[int, int, int, int]:
    data = (
        v3_client(server.endpoint, "acme-root")
        .get_chatapp_template_metric(
            GetChatappTemplateMetricRequest(
                cust_space_id=MAIN, template_code="bulk", start=t - DAY, end=t + DAY
            )
        )
        .body.data
    )
    return (
        sum(d.sent_count for d in data),
        sum(d.delivered_count for d in data),
        sum(d.read_count for d in data),
        sum(c.count for d in data for c in d.cliented),
    )


def enabled_ms(server: CamsServer) -> int:
    return int(server.clock.now() * 1000)


def test_import_records_and_counts(server: CamsServer, tmp_path: Path) -> None:
    t = enabled_ms(server)
    path = write_jsonl(tmp_path / "events.jsonl", good_lines(t), blank_after=2)
    result = import_file(server, path)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "Messages": 2,
        "Events": 5,
        "Duplicates": 0,
        "Counted": 7,
        "NotCounted": 0,
        "Pending": 0,
    }
    assert figures(server, t) == (2, 2, 2, 1)
    # Importing the same file again changes nothing.
    again = import_file(server, path)
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["Duplicates"] == 7
    assert figures(server, t) == (2, 2, 2, 1)


def test_invalid_json_line_is_named_and_nothing_is_recorded(
    server: CamsServer, tmp_path: Path
) -> None:
    t = enabled_ms(server)
    path = tmp_path / "broken.jsonl"
    lines = [json.dumps(r) for r in good_lines(t)]
    lines[3] = lines[3][:-5]  # line 4 is cut short
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = import_file(server, path)
    assert result.exit_code != 0
    assert f"{path}:4:" in result.output
    assert "not valid JSON" in result.output
    assert figures(server, t) == (0, 0, 0, 0)
    # Nothing of the file went in: the good records are all new afterwards.
    fixed = import_file(server, write_jsonl(path, good_lines(t)))
    assert json.loads(fixed.output)["Messages"] == 2
    assert json.loads(fixed.output)["Duplicates"] == 0


def test_invalid_record_is_named_and_nothing_is_recorded(
    server: CamsServer, tmp_path: Path
) -> None:
    t = enabled_ms(server)
    records = good_lines(t)
    records[4] = {**records[4], "status": "opened"}  # line 5
    result = import_file(server, write_jsonl(tmp_path / "bad.jsonl", records))
    assert result.exit_code != 0
    assert "nothing was recorded" in result.output
    assert "line 5" in result.output
    assert "opened" in result.output
    assert figures(server, t) == (0, 0, 0, 0)


def test_invalid_record_after_a_blank_line_names_its_file_line(
    server: CamsServer, tmp_path: Path
) -> None:
    t = enabled_ms(server)
    records = good_lines(t)
    records[4] = {**records[4], "status": "opened"}  # line 6, after the blank line 3
    result = import_file(server, write_jsonl(tmp_path / "bad.jsonl", records, blank_after=2))
    assert result.exit_code != 0
    assert "line 6" in result.output, result.output


def test_undeclared_space_names_its_line(server: CamsServer, tmp_path: Path) -> None:
    t = enabled_ms(server)
    records = good_lines(t)
    records[1] = {**records[1], "space_id": "cams-nowhere"}  # line 2
    result = import_file(server, write_jsonl(tmp_path / "nowhere.jsonl", records))
    assert result.exit_code != 0
    assert "cams-nowhere" in result.output
    assert figures(server, t) == (0, 0, 0, 0)
    assert "line 2" in result.output, result.output


def test_undeclared_space_records_nothing(server: CamsServer, tmp_path: Path) -> None:
    t = enabled_ms(server)
    records = good_lines(t)
    records[1] = {**records[1], "space_id": "cams-nowhere"}
    result = import_file(server, write_jsonl(tmp_path / "nowhere.jsonl", records))
    assert result.exit_code != 0
    assert "cams-nowhere" in result.output
    assert "nothing was recorded" in result.output
    assert figures(server, t) == (0, 0, 0, 0)


def test_missing_file_is_a_usage_error(server: CamsServer, tmp_path: Path) -> None:
    result = import_file(server, tmp_path / "nope.jsonl")
    assert result.exit_code == 2
    assert "does not exist" in result.output
