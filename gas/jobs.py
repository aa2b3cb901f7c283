"""The annotation job: its fields, its two state machines, and pure functions that move it.

Nothing here talks to AWS. `gas.store` turns the same transition tables into DynamoDB
condition expressions, so the rules live in one place and can be unit-tested without moto.

Conventions (see docs/core.md):
- job ids are 32 lowercase hex characters: 48 bits of Unix milliseconds followed by 80 random
  bits. They sort by creation time and are as hard to guess as a uuid4 (80 random bits).
- every timestamp is an ISO-8601 UTC string of fixed width, ``2026-11-20T12:34:56.789Z``, so
  string order is time order (DynamoDB sort keys and condition comparisons rely on this).
"""
from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

JOB_ID_RE = re.compile(r"^[0-9a-f]{32}$")
USER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


class Status(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class ResultsState(StrEnum):
    NONE = "none"
    AVAILABLE = "available"
    ARCHIVED = "archived"
    RESTORING = "restoring"


# The allowed transitions, as data. RUNNING -> RUNNING is the re-claim of a job whose worker
# stopped heart-beating; PENDING -> FAILED is a poison message rejected before any work.
STATUS_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.RUNNING, Status.FAILED}),
    Status.RUNNING: frozenset({Status.RUNNING, Status.COMPLETED, Status.FAILED}),
    Status.COMPLETED: frozenset(),
    Status.FAILED: frozenset(),
}
RESULTS_TRANSITIONS: dict[ResultsState, frozenset[ResultsState]] = {
    ResultsState.NONE: frozenset({ResultsState.AVAILABLE}),
    ResultsState.AVAILABLE: frozenset({ResultsState.ARCHIVED}),
    ResultsState.ARCHIVED: frozenset({ResultsState.RESTORING}),
    ResultsState.RESTORING: frozenset({ResultsState.AVAILABLE}),
}
TERMINAL = frozenset({Status.COMPLETED, Status.FAILED})
RESTORE_TIERS = ("Expedited", "Standard", "Bulk")


class InvalidTransition(ValueError):
    """A state change the tables above do not allow (a bug or a duplicate delivery)."""


def can_transition(old: Status | str, new: Status | str) -> bool:
    """True when the job status may go from `old` to `new`."""
    return Status(new) in STATUS_TRANSITIONS[Status(old)]


def can_transition_results(old: ResultsState | str, new: ResultsState | str) -> bool:
    """True when the results state may go from `old` to `new`."""
    return ResultsState(new) in RESULTS_TRANSITIONS[ResultsState(old)]


def sources_of(new: Status | str) -> list[Status]:
    """Every status from which `new` may be reached (used to build conditional updates)."""
    return [s for s, targets in STATUS_TRANSITIONS.items() if Status(new) in targets]


# ----------------------------------------------------------------------------- time and ids

def to_iso(dt: datetime) -> str:
    """Fixed-width UTC ISO-8601 with milliseconds; naive datetimes are taken as UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> datetime:
    """Inverse of `to_iso` (also accepts any ISO-8601 string with an offset)."""
    return datetime.fromisoformat(value).astimezone(UTC)


def now_iso() -> str:
    """The current time in the one timestamp format GAS stores."""
    return to_iso(datetime.now(UTC))


def iso_minus(ts: str, seconds: float) -> str:
    """`ts` moved `seconds` into the past (the staleness cut-off for heartbeats)."""
    return to_iso(parse_iso(ts) - timedelta(seconds=seconds))


def new_job_id(now_ms: int | None = None) -> str:
    """A time-sortable, unguessable 32-hex id (48-bit ms timestamp + 80 random bits)."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return f"{ms & (2**48 - 1):012x}{secrets.randbits(80):020x}"


def job_id_time(job_id: str) -> datetime:
    """When the job id was minted (its first 48 bits)."""
    return datetime.fromtimestamp(int(job_id[:12], 16) / 1000, UTC)


# ----------------------------------------------------------------------------- the model

def _check_iso(value: str | None) -> str | None:
    if value is not None and not _ISO_RE.match(value):
        raise ValueError(f"timestamp {value!r} is not fixed-width UTC ISO-8601 (YYYY-MM-DDTHH:MM:SS.mmmZ)")
    return value


class Job(BaseModel):
    """One annotation job as stored in the jobs table (one item per job)."""

    # Items written by a newer version may carry attributes we do not know: ignore them.
    model_config = ConfigDict(extra="ignore", validate_assignment=True, use_enum_values=False)

    job_id: str = Field(pattern=JOB_ID_RE.pattern)
    user_id: str = Field(pattern=USER_ID_RE.pattern)
    status: Status = Status.PENDING
    progress: float = Field(default=0.0, ge=0.0, le=1.0)
    input_file: str = Field(min_length=1, max_length=255)
    input_key: str = Field(min_length=1, max_length=1024)
    input_size: int = Field(ge=0)
    genome: str = "GRCh38"
    submitted_at: str
    started_at: str | None = None
    completed_at: str | None = None
    variants: int | None = Field(default=None, ge=0)
    error: str | None = None
    results_state: ResultsState = ResultsState.NONE
    archived_at: str | None = None
    restore_tier: str | None = None
    restore_requested_at: str | None = None
    restored_at: str | None = None
    result_keys: list[str] = Field(default_factory=list)
    attempts: int = Field(default=0, ge=0)
    worker_id: str | None = None
    heartbeat_at: str | None = None

    @field_validator("submitted_at", "started_at", "completed_at", "archived_at",
                     "restore_requested_at", "restored_at", "heartbeat_at")
    @classmethod
    def _iso(cls, v: str | None) -> str | None:
        return _check_iso(v)

    @field_validator("restore_tier")
    @classmethod
    def _tier(cls, v: str | None) -> str | None:
        if v is not None and v not in RESTORE_TIERS:
            raise ValueError(f"restore_tier must be one of {RESTORE_TIERS}")
        return v

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def heartbeat_stale(self, now: str, stale_after_s: float) -> bool:
        """True when a RUNNING job's worker has not been heard from for `stale_after_s`."""
        return self.heartbeat_at is None or self.heartbeat_at < iso_minus(now, stale_after_s)

    def to_item(self) -> dict[str, Any]:
        """Plain dict for storage: enums as strings, unset optional fields left out."""
        return self.model_dump(mode="json", exclude_none=True)


# ----------------------------------------------------------------------------- pure moves
# Each returns a new Job or raises InvalidTransition; gas.store applies the same rules with
# conditional updates, and tests/fakes can use these directly.

def new_job(*, user_id: str, input_file: str, input_key: str, input_size: int,
            genome: str = "GRCh38", job_id: str | None = None, now: str | None = None) -> Job:
    """A PENDING job, ready for `JobStore.create`."""
    return Job(job_id=job_id or new_job_id(), user_id=user_id, input_file=input_file,
               input_key=input_key, input_size=input_size, genome=genome,
               submitted_at=now or now_iso())


def claim(job: Job, worker_id: str, now: str, stale_after_s: float) -> Job:
    """PENDING -> RUNNING, or a RUNNING job whose heartbeat is stale -> RUNNING (re-claimed)."""
    if job.status == Status.RUNNING and not job.heartbeat_stale(now, stale_after_s):
        raise InvalidTransition(f"job {job.job_id} is running on {job.worker_id} with a live heartbeat")
    if not can_transition(job.status, Status.RUNNING):
        raise InvalidTransition(f"job {job.job_id}: {job.status} -> RUNNING not allowed")
    return job.model_copy(update={"status": Status.RUNNING, "worker_id": worker_id, "started_at": now,
                                  "heartbeat_at": now, "progress": 0.0, "attempts": job.attempts + 1})


def heartbeat(job: Job, worker_id: str, progress: float, now: str) -> Job:
    """Record liveness and progress; only the claiming worker may do it."""
    _require_owner(job, worker_id)
    return job.model_copy(update={"heartbeat_at": now, "progress": _progress(progress)})


def complete(job: Job, worker_id: str, variants: int, result_keys: list[str], now: str) -> Job:
    """RUNNING -> COMPLETED by the claiming worker; results become available."""
    _require_owner(job, worker_id)
    if not can_transition_results(job.results_state, ResultsState.AVAILABLE):
        raise InvalidTransition(f"job {job.job_id}: results {job.results_state} -> available not allowed")
    return Job.model_validate({**job.model_dump(), "status": Status.COMPLETED, "progress": 1.0,
                               "completed_at": now, "variants": variants, "result_keys": list(result_keys),
                               "results_state": ResultsState.AVAILABLE, "heartbeat_at": now})


def fail(job: Job, reason: str, now: str, worker_id: str | None = None) -> Job:
    """PENDING|RUNNING -> FAILED. With `worker_id`, only that worker's RUNNING claim may fail it."""
    if worker_id is not None:
        _require_owner(job, worker_id)
    elif not can_transition(job.status, Status.FAILED):
        raise InvalidTransition(f"job {job.job_id}: {job.status} -> FAILED not allowed")
    return job.model_copy(update={"status": Status.FAILED, "error": reason[:1000], "completed_at": now})


def set_results_state(job: Job, expected: ResultsState | str, new: ResultsState | str,
                      **fields: Any) -> Job:
    """Move the results state (archive, thaw, restore) if it is still `expected`."""
    if job.status != Status.COMPLETED:
        raise InvalidTransition(f"job {job.job_id} is {job.status}: it has no results")
    if job.results_state != ResultsState(expected):
        raise InvalidTransition(f"job {job.job_id}: results are {job.results_state}, not {expected}")
    if not can_transition_results(expected, new):
        raise InvalidTransition(f"job {job.job_id}: results {expected} -> {new} not allowed")
    unknown = set(fields) - RESULTS_FIELDS
    if unknown:
        raise ValueError(f"fields {sorted(unknown)} cannot change with the results state")
    return Job.model_validate({**job.model_dump(), **fields, "results_state": ResultsState(new)})


# Fields that may change together with the results state.
RESULTS_FIELDS = frozenset({"archived_at", "restore_tier", "restore_requested_at", "restored_at"})


def _require_owner(job: Job, worker_id: str) -> None:
    if job.status != Status.RUNNING or job.worker_id != worker_id:
        raise InvalidTransition(f"job {job.job_id} is {job.status} claimed by {job.worker_id}, not {worker_id}")


def _progress(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"progress {p} outside 0..1")
    return float(p)
