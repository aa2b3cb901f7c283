"""Jobs in any state, built with gas.jobs' pure moves, and an in-memory JobStore for the UI core
(gas.joblist, gas.downloads, gas.account): same answers as gas.store, no AWS."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gas import jobs as J
from gas.joblist import cursor_after
from gas.jobs import Job, ResultsState
from gas.store import JobPage, decode_cursor

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
OUTPUTS = (".annot.vcf.gz", ".parquet", ".transcripts.parquet", ".summary.json", ".log")


def iso(seconds: float) -> str:
    return J.to_iso(T0 + timedelta(seconds=seconds))


def make_job(status: str = "PENDING", *, user: str = "alice", n: int = 0, results: str | None = None,
             progress: float = 0.5, attempts: int = 1, input_file: str = "a.vcf") -> Job:
    """Job number `n` of `user` (submitted n minutes after T0), moved to `status`;
    COMPLETED jobs carry the five outputs and may be moved on to `results` (archived|restoring)."""
    job_id = J.new_job_id(int((T0 + timedelta(minutes=n)).timestamp() * 1000))
    base = 60 * n
    job = J.new_job(user_id=user, input_file=input_file, input_key=f"{user}/{job_id}/{input_file}",
                    input_size=1000, job_id=job_id, now=iso(base))
    if status == "PENDING":
        return job
    for attempt in range(attempts):
        job = J.claim(job, f"w{attempt}", iso(base + 5 + 1000 * attempt), stale_after_s=60)
    if status == "RUNNING":
        return J.heartbeat(job, job.worker_id or "", progress, iso(base + 6))
    if status == "FAILED":
        return J.fail(job, "not a VCF", iso(base + 7))
    keys = [f"{user}/{job_id}/a{suffix}" for suffix in OUTPUTS]
    job = J.complete(job, job.worker_id or "", 42, keys, iso(base + 17))
    if results in ("archived", "restoring"):
        job = J.set_results_state(job, "available", "archived", archived_at=iso(base + 400))
    if results == "restoring":
        job = J.set_results_state(job, "archived", "restoring", restore_requested_at=iso(base + 900),
                                  restore_tier="Standard")
    return job


class FakeJobStore:
    """get/get_for_user/list_for_user/archived_for_user over a dict, newest first like by_user."""

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = {j.job_id: j for j in jobs}
        self.queries: list[tuple[str, int, str | None]] = []

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def get_for_user(self, job_id: str, user_id: str) -> Job | None:
        job = self.get(job_id)
        return job if job is not None and job.user_id == user_id else None

    def list_for_user(self, user_id: str, limit: int = 20, cursor: str | None = None) -> JobPage:
        self.queries.append((user_id, limit, cursor))
        mine = sorted((j for j in self.jobs.values() if j.user_id == user_id),
                      key=lambda j: j.submitted_at, reverse=True)
        if cursor:
            start = decode_cursor(cursor, user_id, {"job_id", "user_id", "submitted_at"})
            mine = [j for j in mine if j.submitted_at < start["submitted_at"]["S"]]
        page = mine[:limit]
        # like DynamoDB: a full page has a LastEvaluatedKey even when nothing follows it
        return JobPage(page, cursor_after(page[-1]) if len(page) == limit else None)

    def archived_for_user(self, user_id: str, page_size: int = 100,
                          state: ResultsState = ResultsState.ARCHIVED) -> list[Job]:
        return [j for j in self.jobs.values() if j.user_id == user_id and j.results_state == state]
