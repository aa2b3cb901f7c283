"""A job's history as the user sees it, rebuilt from the timestamps on the job item.

The jobs table keeps one timestamp per milestone (`submitted_at`, `started_at`, `completed_at`,
`archived_at`, `restore_requested_at`, `restored_at`), so the timeline needs no event log: it is
a pure function of the `Job`. Times are shown in the reader's time zone (the browser's, when the
UI knows it), as ``2026-11-20 13:34:56``; the zone is named once by the page, not per row.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gas.jobs import Job, Status, parse_iso

# What each retrieval tier promises (docs/lifecycle.md): the UI repeats it when restoring.
TIER_DELAY = {"Expedited": "usually 1–5 minutes", "Standard": "usually 3–5 hours", "Bulk": "usually 5–12 hours"}


@dataclass(frozen=True)
class Event:
    label: str        # "Submitted", "Started", "Completed", ...
    at: str           # the stored ISO-8601 UTC timestamp
    detail: str = ""  # our own words (never user input)


def zone(name: str | None) -> tzinfo:
    """The named IANA zone, or UTC when there is none or it is unknown."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def zone_name(name: str | None) -> str:
    """How the page names the zone its times are in."""
    tz = zone(name)
    return "UTC" if tz is UTC else str(name)


def local_time(iso: str | None, tz: str | tzinfo | None = None, *, seconds: bool = True) -> str:
    """``2026-11-20 13:34:56`` (``2026-11-20 13:34`` without `seconds`) in `tz` (a zone name or
    tzinfo; UTC by default); "" for None."""
    if not iso:
        return ""
    zi = tz if isinstance(tz, tzinfo) else zone(tz)
    return parse_iso(iso).astimezone(zi).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def duration(start: str | None, end: str | None) -> str:
    """``850 ms``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``; "" when either end is missing."""
    if not start or not end:
        return ""
    s = max(0.0, (parse_iso(end) - parse_iso(start)).total_seconds())
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def restore_promise(job: Job) -> str:
    """What to expect while the results are restoring, from the slowest tier the thaw used."""
    delay = TIER_DELAY.get(job.restore_tier or "")
    return f"{job.restore_tier} retrieval, {delay}" if delay else "usually minutes, at most a few hours"


def timeline(job: Job) -> list[Event]:
    """The job's milestones, oldest first (only those that happened)."""
    events = [Event("Submitted", job.submitted_at, "input uploaded, job queued")]
    if job.started_at:
        retry = f" (attempt {job.attempts})" if job.attempts > 1 else ""
        events.append(Event("Started", job.started_at,
                            f"annotating{retry}; queued {duration(job.submitted_at, job.started_at)}"))
    if job.completed_at and job.status == Status.COMPLETED:
        variants = f"{job.variants:,} variants" if job.variants is not None else "done"
        took = duration(job.started_at, job.completed_at)
        events.append(Event("Completed", job.completed_at, variants + (f" in {took}" if took else "")))
    elif job.completed_at and job.status == Status.FAILED:
        events.append(Event("Failed", job.completed_at, "see the reason below"))
    if job.archived_at:
        events.append(Event("Archived", job.archived_at, "results moved to cold storage (free plan)"))
    if job.restore_requested_at:
        events.append(Event("Restore requested", job.restore_requested_at, restore_promise(job)))
    if job.restored_at:
        events.append(Event("Restored", job.restored_at, "results downloadable again"))
    # stable sort: equal timestamps keep the order above (which is the causal order)
    return sorted(events, key=lambda e: e.at)


def timeline_rows(job: Job, tz: str | None = None) -> list[dict[str, str]]:
    """The timeline as table rows for the UI: event, local time, detail."""
    zi = zone(tz)
    return [{"event": e.label, "when": local_time(e.at, zi), "detail": e.detail} for e in timeline(job)]
