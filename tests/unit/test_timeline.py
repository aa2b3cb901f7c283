"""gas.timeline: a job's history from its timestamps, in the reader's time zone."""
from __future__ import annotations

from job_factory import make_job

from gas.timeline import (
    duration,
    local_time,
    restore_promise,
    timeline,
    timeline_rows,
    zone_name,
)


def labels(job) -> list[str]:
    return [e.label for e in timeline(job)]


def test_each_status_has_its_milestones() -> None:
    assert labels(make_job("PENDING")) == ["Submitted"]
    assert labels(make_job("RUNNING")) == ["Submitted", "Started"]
    assert labels(make_job("FAILED")) == ["Submitted", "Started", "Failed"]
    assert labels(make_job("COMPLETED")) == ["Submitted", "Started", "Completed"]
    assert labels(make_job("COMPLETED", results="archived")) == ["Submitted", "Started", "Completed", "Archived"]
    assert labels(make_job("COMPLETED", results="restoring")) == [
        "Submitted", "Started", "Completed", "Archived", "Restore requested"]


def test_restored_job_ends_with_restored_and_times_are_ordered() -> None:
    from gas import jobs as J
    job = J.set_results_state(make_job("COMPLETED", results="restoring"), "restoring", "available",
                              restored_at="2026-11-20T12:00:00.000Z")
    events = timeline(job)
    assert [e.label for e in events][-1] == "Restored"
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_details_say_how_long_and_how_many() -> None:
    done = {e.label: e.detail for e in timeline(make_job("COMPLETED"))}
    assert done["Completed"] == "42 variants in 12.0 s"
    assert done["Started"] == "annotating; queued 5.0 s"
    retried = {e.label: e.detail for e in timeline(make_job("RUNNING", attempts=2))}
    assert "attempt 2" in retried["Started"]
    restoring = {e.label: e.detail for e in timeline(make_job("COMPLETED", results="restoring"))}
    assert restoring["Restore requested"] == "Standard retrieval, usually 3–5 hours"


def test_restore_promise_without_a_tier() -> None:
    job = make_job("COMPLETED", results="archived")
    assert restore_promise(job) == "usually minutes, at most a few hours"


def test_local_time_in_the_browser_zone_or_utc() -> None:
    ts = "2026-11-20T09:00:00.000Z"
    assert local_time(ts) == "2026-11-20 09:00:00"
    assert local_time(ts, "Europe/Berlin") == "2026-11-20 10:00:00"
    assert local_time(ts, "America/New_York") == "2026-11-20 04:00:00"
    assert local_time(ts, "Not/AZone") == "2026-11-20 09:00:00"
    assert local_time(None, "Europe/Berlin") == ""
    assert local_time("2026-11-20T09:00:59.999Z", "Europe/Berlin", seconds=False) == "2026-11-20 10:00"
    assert zone_name(None) == "UTC" and zone_name("Bogus/Zone") == "UTC" and zone_name("Asia/Tokyo") == "Asia/Tokyo"


def test_durations_read_naturally() -> None:
    base = "2026-11-20T09:00:00.000Z"
    assert duration(base, "2026-11-20T09:00:00.250Z") == "250 ms"
    assert duration(base, "2026-11-20T09:00:12.340Z") == "12.3 s"
    assert duration(base, "2026-11-20T09:04:05.000Z") == "4 min 05 s"
    assert duration(base, "2026-11-20T11:03:00.000Z") == "2 h 03 min"
    assert duration(base, None) == "" and duration(None, base) == ""


def test_rows_for_the_table() -> None:
    rows = timeline_rows(make_job("COMPLETED"), "Europe/Berlin")
    assert rows[0] == {"event": "Submitted", "when": "2026-11-20 10:00:00", "detail": "input uploaded, job queued"}
    assert [r["when"] for r in rows] == ["2026-11-20 10:00:00", "2026-11-20 10:00:05", "2026-11-20 10:00:17"]
