"""gas.joblist: a user's jobs as table rows, one page at a time, newest first."""
from __future__ import annotations

import pytest
from job_factory import FakeJobStore, make_job

from gas import joblist
from gas.joblist import PAGE_SIZE, list_page


def test_row_has_the_user_facing_fields_only() -> None:
    job = make_job("COMPLETED", input_file="my <b>sample</b>.vcf")
    row = joblist.job_row(job, "Europe/Berlin")
    assert row == {"job_id": job.job_id, "open": f"job?job={job.job_id}", "input": "my <b>sample</b>.vcf",
                   "status": "Completed", "progress": 1.0, "submitted": "2026-11-20 10:00",
                   "completed": "2026-11-20 10:00", "variants": 42, "results": "Available"}
    assert tuple(row) == joblist.COLUMNS
    assert "worker_id" not in row and "input_key" not in row


@pytest.mark.parametrize(("status", "results", "label", "shown"), [
    ("PENDING", None, "Pending", ""), ("RUNNING", None, "Running", ""), ("FAILED", None, "Failed", ""),
    ("COMPLETED", "archived", "Completed", "Archived"), ("COMPLETED", "restoring", "Completed", "Restoring")])
def test_status_and_results_labels(status: str, results: str | None, label: str, shown: str) -> None:
    row = joblist.job_row(make_job(status, results=results))
    assert (row["status"], row["results"]) == (label, shown)
    assert row["completed"] == ("" if status in ("PENDING", "RUNNING") else row["completed"])


def test_active_while_anything_is_pending_or_running() -> None:
    assert joblist.any_active([make_job("COMPLETED"), make_job("RUNNING")])
    assert joblist.any_active([make_job("PENDING")])
    assert not joblist.any_active([make_job("COMPLETED"), make_job("FAILED")])
    assert not joblist.any_active([])


def test_pages_follow_the_cursor_and_never_end_empty() -> None:
    store = FakeJobStore([make_job(n=i) for i in range(2 * PAGE_SIZE)] + [make_job(user="bob", n=500)])
    first = list_page(store, "alice")
    assert len(first.jobs) == PAGE_SIZE and first.cursor
    assert first.jobs[0].submitted_at > first.jobs[-1].submitted_at
    second = list_page(store, "alice", first.cursor)
    assert len(second.jobs) == PAGE_SIZE and second.cursor is None  # exactly two pages: no empty third
    assert not {j.job_id for j in first.jobs} & {j.job_id for j in second.jobs}
    assert {j.user_id for j in first.jobs + second.jobs} == {"alice"}
    assert all(limit == PAGE_SIZE + 1 for _, limit, _ in store.queries)  # one extra to know "more"


def test_another_users_cursor_restarts_at_the_first_page() -> None:
    store = FakeJobStore([make_job(n=i) for i in range(3)] + [make_job(user="bob", n=i) for i in range(3)])
    bobs_cursor = joblist.cursor_after(list_page(store, "bob", limit=1).jobs[0])
    page = list_page(store, "alice", bobs_cursor)
    assert page.restarted and {j.user_id for j in page.jobs} == {"alice"} and len(page.jobs) == 3
    assert list_page(store, "alice", "not-a-cursor!").restarted


def test_rows_and_activity_of_a_page() -> None:
    store = FakeJobStore([make_job("RUNNING", n=1), make_job("COMPLETED", n=0)])
    page = list_page(store, "alice")
    assert page.active and [r["status"] for r in page.rows()] == ["Running", "Completed"]
    assert list_page(FakeJobStore([]), "alice").jobs == []
