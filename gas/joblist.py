"""The rows of a user's jobs table: one page at a time, newest first, from the by_user index.

Only ever one Query on the user's own partition (`JobStore.list_for_user`), so the cost of a
page does not grow with the number of jobs the user (or the service) has. A page asks for one
job more than it shows: when that extra job exists there are older jobs, and the cursor points
just after the last job shown, so "older jobs" never leads to an empty page.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gas.jobs import Job, ResultsState, Status
from gas.store import InvalidCursor, encode_cursor, to_dynamo
from gas.timeline import local_time, zone

PAGE_SIZE = 50
ACTIVE = frozenset({Status.PENDING, Status.RUNNING})
STATUS_LABEL = {Status.PENDING: "Pending", Status.RUNNING: "Running",
                Status.COMPLETED: "Completed", Status.FAILED: "Failed"}
RESULTS_LABEL = {ResultsState.NONE: "", ResultsState.AVAILABLE: "Available",
                 ResultsState.ARCHIVED: "Archived", ResultsState.RESTORING: "Restoring"}
COLUMNS = ("job_id", "open", "input", "status", "progress", "submitted", "completed", "variants", "results")


def detail_link(job_id: str) -> str:
    """Relative URL of the job detail page (`st.Page(url_path="job")`), for a LinkColumn."""
    return f"job?job={job_id}"


def job_row(job: Job, tz: str | None = None) -> dict[str, Any]:
    """One table row: only the user-facing fields, times in `tz` (UTC when None)."""
    zi = zone(tz)
    return {"job_id": job.job_id, "open": detail_link(job.job_id), "input": job.input_file,
            "status": STATUS_LABEL[job.status], "progress": float(job.progress),
            "submitted": local_time(job.submitted_at, zi, seconds=False),
            "completed": local_time(job.completed_at, zi, seconds=False),
            "variants": job.variants, "results": RESULTS_LABEL[job.results_state]}


def any_active(jobs: list[Job]) -> bool:
    """True while any of `jobs` may still change (the page keeps refreshing itself)."""
    return any(j.status in ACTIVE for j in jobs)


@dataclass(frozen=True)
class JobListPage:
    jobs: list[Job]
    cursor: str | None      # pass back for the next (older) page; None when there is none
    restarted: bool = False  # the cursor given was refused: this is the first page

    @property
    def active(self) -> bool:
        return any_active(self.jobs)

    def rows(self, tz: str | None = None) -> list[dict[str, Any]]:
        return [job_row(j, tz) for j in self.jobs]


def cursor_after(job: Job) -> str:
    """The by_user cursor that continues right after `job` (what DynamoDB would have returned
    as LastEvaluatedKey had the page ended there)."""
    return encode_cursor(to_dynamo({"job_id": job.job_id, "user_id": job.user_id,
                                    "submitted_at": job.submitted_at}))  # type: ignore[return-value]


def list_page(store: Any, user_id: str, cursor: str | None = None, limit: int = PAGE_SIZE) -> JobListPage:
    """One page of the user's jobs. A cursor that is not this user's (or not valid) is ignored
    and the first page is returned, flagged `restarted`."""
    restarted = False
    try:
        page = store.list_for_user(user_id, limit + 1, cursor)
    except InvalidCursor:
        page, restarted = store.list_for_user(user_id, limit + 1, None), True
    jobs = page.jobs
    if len(jobs) > limit:
        return JobListPage(jobs[:limit], cursor_after(jobs[limit - 1]), restarted)
    # Fewer than asked: the end, unless DynamoDB stopped early at its 1 MB page limit.
    return JobListPage(jobs, page.cursor if jobs else None, restarted)
