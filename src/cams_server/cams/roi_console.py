"""The figures of the ROI console (`/console`, through the admin API's `/_cams/console/*`).

Every number comes from the functions the metric reads answer with
(`metric_reads.template_metric`, `phone_metric`), over the same periods, so a chart shows
what the official SDK's GetChatappTemplateMetric / GetChatappPhoneNumberMetric return
for the same range; the totals are their sums.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from cams_server.cams.metric_reads import metric_periods, phone_metric, template_metric
from cams_server.ram.directory import Directory
from cams_server.store.database import Database
from cams_server.store.enablements import enablement_times, list_enablements
from cams_server.store.statistics import templates_used

__all__ = ["console_enablements", "console_space"]


def _round(value: float) -> float:
    return round(value, 6)


def _totals(series: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The funnel and the cost of template entries (Data of template_metric), summed."""
    sent = sum(e["SentCount"] for e in series)
    delivered = sum(e["DeliveredCount"] for e in series)
    read = sum(e["ReadCount"] for e in series)
    clicks = sum(c["Count"] for e in series for c in e["Cliented"])
    url_clicks = sum(c["Count"] for e in series for c in e["Cliented"] if c["Type"] == "url_button")
    spent = _round(sum(e["AmountSpent"] for e in series))
    return {
        "Sent": sent,
        "Delivered": delivered,
        "Read": read,
        "Clicked": clicks,
        "UrlClicks": url_clicks,
        "AmountSpent": spent,
        "CostPerDelivered": _round(spent / delivered) if delivered else None,
        "CostPerUrlButtonClick": _round(spent / url_clicks) if url_clicks else None,
        "DeliveredRate": _round(delivered / sent) if sent else None,
        "ReadRate": _round(read / delivered) if delivered else None,
        "ClickRate": _round(clicks / read) if read else None,
    }


def _template_entries(
    db: Database, account: str, spaces: list[str], granularity: str, start: int, end: int
) -> list[dict[str, Any]]:
    length, periods = metric_periods(granularity, start, end)
    used = templates_used(db, account, spaces, periods[0], periods[-1] + length)
    return [
        entry
        for code in used
        for entry in template_metric(db, account, spaces, code, None, granularity, start, end)
    ]


def _spaces_of(directory: Directory, account: str, space_id: str | None) -> list[str]:
    if space_id:
        return [space_id]
    return [s.id for s in directory.spaces_of(account) if not s.is_isv_customer]


def console_enablements(
    db: Database, directory: Directory, start: int, end: int
) -> list[dict[str, Any]]:
    """Every enablement, its upstream state, and its totals over [start, end]."""
    metric_periods("DAILY", start, end)  # the same bound as a read: at most 90 days
    out = []
    for enablement in list_enablements(db):
        spaces = _spaces_of(directory, enablement.account_id, enablement.space_id)
        entries = _template_entries(db, enablement.account_id, spaces, "DAILY", start, end)
        out.append({**enablement.to_json(), "spaces": spaces, "totals": _totals(entries)})
    return out


def console_space(
    db: Database, directory: Directory, space_id: str, granularity: str, start: int, end: int
) -> dict[str, Any] | None:
    """A space's ROI over [start, end]: series per template and language and per business
    number, the funnel, clicks by button, cost, and when it was enabled (None: no such
    space)."""
    space = directory.space(space_id)
    if space is None:
        return None
    length, periods = metric_periods(granularity, start, end)
    account = space.account_id
    enabled = enablement_times(db, account)
    enabled_at = enabled.get(space_id)
    if enabled_at is None and not space.is_isv_customer:
        enabled_at = enabled.get(None)
    entries = _template_entries(db, account, [space_id], granularity, start, end)
    templates: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        templates[(entry["TemplateCode"], entry["Language"])].append(entry)
    phones: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in phone_metric(db, account, [space_id], None, granularity, start, end):
        phones[entry["PhoneNumber"]].append(entry)
    buttons: dict[tuple[str, str], int] = defaultdict(int)
    for entry in entries:
        for click in entry["Cliented"]:
            buttons[(click["Type"], click["ButtonContent"])] += click["Count"]
    return {
        "SpaceId": space_id,
        "AccountId": account,
        "IsvCustomer": space.is_isv_customer,
        "EnabledAt": enabled_at,
        "Granularity": granularity,
        "PeriodMs": length,
        "Periods": periods,
        "Templates": [
            {"TemplateCode": code, "Language": lang, "Data": data}
            for (code, lang), data in sorted(templates.items())
        ],
        "Phones": [{"PhoneNumber": n, "Data": data} for n, data in sorted(phones.items())],
        "Buttons": [
            {"Type": t, "ButtonContent": text, "Count": n}
            for (t, text), n in sorted(buttons.items(), key=lambda kv: -kv[1])
        ],
        "Totals": _totals(entries),
    }
