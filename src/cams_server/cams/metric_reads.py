"""GetChatappTemplateMetric and GetChatappPhoneNumberMetric: what enabling unlocks.

Both read the half-hour roll-ups of a space (or of the account's own, non-ISV
spaces) over `Start`..`End` (epoch milliseconds, at most 90 days), by `DAILY` or
`HALF_HOUR` periods aligned to UTC. On a space whose statistics were never enabled
they answer `RoiMetric.NotEnabled` rather than zeros that would look like no traffic.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from cams_server.cams.access import authorize_space
from cams_server.model.outcomes import BUCKET_MS
from cams_server.rpc.context import CallContext
from cams_server.store.database import Database
from cams_server.store.enablements import enablement_times
from cams_server.store.statistics import read_phone_buckets, read_template_buckets
from cams_server.wire.errors import invalid_parameter

__all__ = [
    "get_chatapp_phone_number_metric",
    "get_chatapp_template_metric",
    "metric_periods",
    "phone_metric",
    "template_metric",
]

_PERIOD_MS = {"DAILY": 24 * 3600 * 1000, "HALF_HOUR": BUCKET_MS}
_MAX_RANGE_MS = 90 * 24 * 3600 * 1000


def metric_periods(granularity: str, start: int, end: int) -> tuple[int, list[int]]:
    """The period length and the periods' starts of a read over `start`..`end` (epoch
    ms): DAILY or HALF_HOUR periods aligned to UTC; refused beyond 90 days."""
    if end < start:
        raise invalid_parameter("End", f"End ({end}) is before Start ({start}).")
    if end - start > _MAX_RANGE_MS:
        raise invalid_parameter(
            "End", "Start to End spans more than 90 days; ask for at most 90 days at a time."
        )
    length = _PERIOD_MS[granularity]
    first = start - start % length
    return length, list(range(first, end + 1, length))


def _periods(ctx: CallContext) -> tuple[str, int, list[int]]:
    # Typed and bounded by the catalog: Granularity is DAILY (its default) or HALF_HOUR,
    # Start and End are epoch milliseconds within the calendar (the metadata overlay).
    granularity: str = ctx.params["Granularity"]
    length, periods = metric_periods(granularity, ctx.params["Start"], ctx.params["End"])
    return granularity, length, periods


async def _spaces(ctx: CallContext) -> list[str]:
    """The spaces to read, after ownership, ISV and enablement checks."""
    space_id = ctx.params.get("CustSpaceId")
    space = authorize_space(ctx, space_id, ctx.params.get("IsvCode"))
    account = ctx.caller.principal.account_id
    enabled = await ctx.database.run(enablement_times, ctx.database, account)
    if space is not None:
        if space.id in enabled or (not space.is_isv_customer and None in enabled):
            return [space.id]
        raise ctx.operation.error(
            "RoiMetric.NotEnabled",
            f"Call EnableWhatsappROIMetric with CustSpaceId={space.id} first; only messages "
            "sent after that are counted.",
        )
    own = [s.id for s in ctx.directory.spaces_of(account) if not s.is_isv_customer]
    chosen = own if None in enabled else [s for s in own if s in enabled]
    if not chosen:
        raise ctx.operation.error(
            "RoiMetric.NotEnabled",
            f"Account {account} has not enabled them for its own spaces: call "
            "EnableWhatsappROIMetric first; only messages sent after that are counted.",
        )
    return chosen


def _money(micros: int) -> float:
    return round(micros / 1_000_000, 6)


async def get_chatapp_template_metric(ctx: CallContext) -> dict[str, Any]:
    granularity, _, _ = _periods(ctx)
    spaces = await _spaces(ctx)
    data: list[dict[str, Any]] = []
    if ctx.params["TemplateType"] == "WHATSAPP":  # the default; VIBER has no traffic here
        data = await ctx.database.run(
            template_metric,
            ctx.database,
            ctx.caller.principal.account_id,
            spaces,
            ctx.params["TemplateCode"],
            ctx.params.get("Language"),
            granularity,
            ctx.params["Start"],
            ctx.params["End"],
        )
    return {"Code": "OK", "Message": "None", "AccessDeniedDetail": "NONE", "Data": data}


def template_metric(
    db: Database,
    account: str,
    spaces: list[str],
    template: str,
    language: str | None,
    granularity: str,
    start: int,
    end: int,
) -> list[dict[str, Any]]:
    """The `Data` of GetChatappTemplateMetric: one entry per language and period. The
    API and the ROI console (admin.py) both read through it, so their figures agree."""
    length, periods = metric_periods(granularity, start, end)
    rows, clicks = read_template_buckets(
        db, account, spaces, template, language, periods[0], periods[-1] + length, length
    )
    data: list[dict[str, Any]] = []
    sums: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in rows:
        s = sums[(r.language, r.bucket_ms - (r.bucket_ms - periods[0]) % length)]
        s[0] += int(r.sent)
        s[1] += int(r.delivered)
        s[2] += int(r.read)
        s[3] += int(r.cost_micros)
    buttons: dict[tuple[str, int], dict[tuple[str, str], int]] = defaultdict(dict)
    for c in clicks:
        key = (c.language, c.bucket_ms - (c.bucket_ms - periods[0]) % length)
        button = (c.button_type, c.button_content)
        buttons[key][button] = buttons[key].get(button, 0) + int(c.clicks)
    languages = sorted({lang for lang, _ in sums} | {lang for lang, _ in buttons})
    if language is not None and str(language) not in languages:
        languages.append(str(language))
    for lang in languages:
        for period in periods:
            sent, delivered, read, cost = sums.get((lang, period), [0, 0, 0, 0])
            pressed = sorted(buttons.get((lang, period), {}).items())
            cliented = [{"Type": t, "ButtonContent": text, "Count": n} for (t, text), n in pressed]
            url_clicks = sum(n for (t, _), n in pressed if t == "url_button")
            entry: dict[str, Any] = {
                "TemplateCode": template,
                "Language": lang,
                "SentCount": sent,
                "DeliveredCount": delivered,
                "ReadCount": read,
                "Cliented": cliented,
                "Start": period,
                "End": period + length - 1,
                "Granularity": granularity,
                "AmountSpent": _money(cost),
            }
            if delivered:
                entry["CostPerDelivered"] = _money(cost // delivered)
            if url_clicks:
                entry["CostPerUrlButtonClick"] = _money(cost // url_clicks)
            data.append(entry)
    return data


async def get_chatapp_phone_number_metric(ctx: CallContext) -> dict[str, Any]:
    granularity, _, _ = _periods(ctx)
    spaces = await _spaces(ctx)
    phone = ctx.params.get("PhoneNumber")
    data = await ctx.database.run(
        phone_metric,
        ctx.database,
        ctx.caller.principal.account_id,
        spaces,
        None if phone is None else str(phone),
        granularity,
        ctx.params["Start"],
        ctx.params["End"],
    )
    return {"Code": "OK", "Message": "None", "AccessDeniedDetail": "NONE", "Data": data}


def phone_metric(
    db: Database,
    account: str,
    spaces: list[str],
    phone: str | None,
    granularity: str,
    start: int,
    end: int,
) -> list[dict[str, Any]]:
    """The `Data` of GetChatappPhoneNumberMetric (shared with the ROI console)."""
    length, periods = metric_periods(granularity, start, end)
    rows = read_phone_buckets(db, account, spaces, phone, periods[0], periods[-1] + length, length)
    sums: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        s = sums[(r.phone_number, r.bucket_ms - (r.bucket_ms - periods[0]) % length)]
        s[0] += int(r.sent)
        s[1] += int(r.delivered)
    numbers = sorted({n for n, _ in sums})
    if phone is not None and phone not in numbers:
        numbers.append(phone)
    return [
        {
            "PhoneNumber": number,
            "SentCount": sums.get((number, p), [0, 0])[0],
            "DeliveredCount": sums.get((number, p), [0, 0])[1],
            "Start": p,
            "End": p + length - 1,
            "Granularity": granularity,
        }
        for number in numbers
        for p in periods
    ]
