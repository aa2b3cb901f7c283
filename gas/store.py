"""JobStore: the jobs table in DynamoDB.

Table design (docs/core.md has the why):
- partition key ``job_id`` (S); no sort key. A job is read by id far more than anything else.
- GSI ``by_user``: ``user_id`` (S) + ``submitted_at`` (S), projection ALL: a user's jobs,
  newest first, by Query (never Scan), paginated with an opaque cursor.
- GSI ``by_results_state``: ``user_id`` (S) + ``results_state`` (S), projection ALL: "this
  user's archived jobs" for the thaw flow, again a Query.

Every state change is one UpdateItem with a ConditionExpression built from `gas.jobs`'
transition tables and the claim owner, so a message delivered twice cannot apply twice. A failed
condition is a domain answer (None / False), never a botocore exception for the caller.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from gas import aws
from gas import jobs as J
from gas.jobs import Job, ResultsState, Status
from gas.settings import Settings

BY_USER_INDEX = "by_user"
BY_RESULTS_STATE_INDEX = "by_results_state"
DEFAULT_STALE_AFTER_S = 300
MAX_PAGE = 100

_ser = TypeSerializer()
_de = TypeDeserializer()


class InvalidCursor(ValueError):
    """A pagination cursor that was tampered with or belongs to another user."""


# ----------------------------------------------------------------------------- (de)serialisation

def _dynamo_value(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _dynamo_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dynamo_value(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, set)):
        return [_plain(v) for v in value]
    return value


def to_dynamo(item: dict[str, Any]) -> dict[str, Any]:
    """Plain dict -> DynamoDB JSON (floats become Decimals, None values are dropped)."""
    return {k: _ser.serialize(_dynamo_value(v)) for k, v in item.items() if v is not None}


def from_dynamo(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB JSON -> plain dict with ints and floats instead of Decimals."""
    return {k: _plain(_de.deserialize(v)) for k, v in item.items()}


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    raw = json.dumps(from_dynamo(last_key), sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, user_id: str, expected_keys: set[str]) -> dict[str, Any]:
    """Back to an ExclusiveStartKey, refusing cursors that are malformed or not this user's."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError) as exc:
        raise InvalidCursor("cursor is not valid") from exc
    if not isinstance(data, dict) or set(data) != expected_keys or data.get("user_id") != user_id \
            or not all(isinstance(v, str) for v in data.values()):
        raise InvalidCursor("cursor does not belong to this listing")
    return to_dynamo(data)


def is_conditional_failure(exc: BaseException) -> bool:
    return aws.error_code(exc) == "ConditionalCheckFailedException"


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    cursor: str | None  # pass back to get the next page; None when there is none


# ----------------------------------------------------------------------------- the store

class JobStore:
    """Jobs in DynamoDB. Methods return domain values; races lost return None/False."""

    def __init__(self, settings: Settings | None = None, *, client: Any = None,
                 table: str | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.table = table or self.settings.jobs_table
        self._client = client

    @property
    def ddb(self) -> Any:
        return self._client or aws.dynamodb(self.settings.region)

    # -- reads ---------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        """Strongly consistent read by id (workers and functions; users go via get_for_user)."""
        if not J.JOB_ID_RE.match(job_id or ""):
            return None
        item = self.ddb.get_item(TableName=self.table, Key={"job_id": {"S": job_id}},
                                 ConsistentRead=True).get("Item")
        return Job.model_validate(from_dynamo(item)) if item else None

    def get_for_user(self, job_id: str, user_id: str) -> Job | None:
        """The job only if `user_id` owns it: another user's job and a missing one look the same."""
        job = self.get(job_id)
        return job if job is not None and job.user_id == user_id else None

    def list_for_user(self, user_id: str, limit: int = 20, cursor: str | None = None) -> JobPage:
        """One page of the user's jobs, newest first (Query on by_user; never a Scan)."""
        limit = max(1, min(int(limit), MAX_PAGE))
        kwargs: dict[str, Any] = {
            "TableName": self.table, "IndexName": BY_USER_INDEX, "ScanIndexForward": False, "Limit": limit,
            "KeyConditionExpression": "user_id = :u", "ExpressionAttributeValues": {":u": {"S": user_id}}}
        if cursor:
            kwargs["ExclusiveStartKey"] = decode_cursor(cursor, user_id, {"job_id", "user_id", "submitted_at"})
        out = self.ddb.query(**kwargs)
        return JobPage(jobs=[Job.model_validate(from_dynamo(i)) for i in out.get("Items", [])],
                       cursor=encode_cursor(out.get("LastEvaluatedKey")))

    def iter_for_user(self, user_id: str, page_size: int = MAX_PAGE) -> Iterator[Job]:
        """Every job of the user, newest first, following cursors."""
        cursor = None
        while True:
            page = self.list_for_user(user_id, page_size, cursor)
            yield from page.jobs
            if not page.cursor:
                return
            cursor = page.cursor

    def archived_for_user(self, user_id: str, page_size: int = MAX_PAGE,
                          state: ResultsState = ResultsState.ARCHIVED) -> Iterator[Job]:
        """The user's jobs whose results are in `state` (Query on by_results_state, all pages)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table, "IndexName": BY_RESULTS_STATE_INDEX, "Limit": max(1, page_size),
            "KeyConditionExpression": "user_id = :u AND results_state = :s",
            "ExpressionAttributeValues": {":u": {"S": user_id}, ":s": {"S": ResultsState(state).value}}}
        while True:
            out = self.ddb.query(**kwargs)
            for item in out.get("Items", []):
                yield Job.model_validate(from_dynamo(item))
            if "LastEvaluatedKey" not in out:
                return
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    # -- writes --------------------------------------------------------------------------

    def create(self, job: Job) -> bool:
        """Insert a new PENDING job; False if the id exists (a retried submit is harmless)."""
        if job.status != Status.PENDING:
            raise J.InvalidTransition("a job is created PENDING")
        try:
            self.ddb.put_item(TableName=self.table, Item=to_dynamo(job.to_item()),
                              ConditionExpression="attribute_not_exists(job_id)")
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def claim(self, job_id: str, worker_id: str, now: str | None = None,
              stale_after_s: float = DEFAULT_STALE_AFTER_S) -> Job | None:
        """PENDING -> RUNNING for `worker_id`, or take over a RUNNING job whose heartbeat is
        older than `stale_after_s`. None when someone else holds a live claim or it is finished."""
        now = now or J.now_iso()
        return self._update(
            job_id,
            sets={"status": Status.RUNNING.value, "worker_id": worker_id, "started_at": now,
                  "heartbeat_at": now, "progress": 0},
            extra_set="attempts = if_not_exists(attempts, :zero) + :one",
            condition="#status = :pending OR (#status = :running AND "
                      "(attribute_not_exists(heartbeat_at) OR heartbeat_at < :cutoff))",
            values={":pending": Status.PENDING.value, ":running": Status.RUNNING.value,
                    ":cutoff": J.iso_minus(now, stale_after_s), ":zero": 0, ":one": 1})

    def heartbeat(self, job_id: str, worker_id: str, progress: float, now: str | None = None) -> bool:
        """Record liveness and progress; False means the claim was lost (stop working)."""
        if not 0.0 <= progress <= 1.0:
            raise ValueError(f"progress {progress} outside 0..1")
        job = self._update(job_id, sets={"heartbeat_at": now or J.now_iso(), "progress": float(progress)},
                           condition="#status = :running AND worker_id = :w",
                           values={":running": Status.RUNNING.value, ":w": worker_id})
        return job is not None

    def release(self, job_id: str, worker_id: str) -> bool:
        """Give up our claim: the job stays RUNNING but without heartbeat or worker, which
        `claim` treats as stale, so the next delivery re-claims it at once. Conditional on
        `worker_id` still holding it (a takeover is never undone)."""
        if not J.JOB_ID_RE.match(job_id or ""):
            return False
        try:
            self.ddb.update_item(
                TableName=self.table, Key={"job_id": {"S": job_id}},
                UpdateExpression="SET progress = :zero REMOVE heartbeat_at, worker_id",
                ConditionExpression="attribute_exists(job_id) AND #s = :running AND worker_id = :w",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":running": {"S": Status.RUNNING.value}, ":w": {"S": worker_id},
                                           ":zero": {"N": "0"}})
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def complete(self, job_id: str, worker_id: str, variants: int, result_keys: list[str],
                 now: str | None = None) -> Job | None:
        """RUNNING -> COMPLETED by the claimer; results become available.

        Idempotent for the same worker (a retried call returns the completed job); None for
        anyone else or a job that is not this worker's running claim.
        """
        now = now or J.now_iso()
        job = self._update(
            job_id,
            sets={"status": Status.COMPLETED.value, "progress": 1, "completed_at": now,
                  "heartbeat_at": now, "variants": int(variants), "result_keys": list(result_keys),
                  "results_state": ResultsState.AVAILABLE.value},
            condition="#status = :running AND worker_id = :w AND results_state = :none",
            values={":running": Status.RUNNING.value, ":w": worker_id, ":none": ResultsState.NONE.value})
        if job is None:
            current = self.get(job_id)
            if current and current.status == Status.COMPLETED and current.worker_id == worker_id:
                return current
        return job

    def fail(self, job_id: str, reason: str, worker_id: str | None = None,
             now: str | None = None) -> Job | None:
        """-> FAILED. With `worker_id`: only that worker's RUNNING claim. Without: from PENDING
        (poison message) or RUNNING (dead-letter handling). Repeating a failure returns the job."""
        values: dict[str, Any] = {f":s{i}": s.value for i, s in enumerate(J.sources_of(Status.FAILED))}
        condition = "#status IN (" + ", ".join(values) + ")"
        if worker_id is not None:
            condition = "#status = :running AND worker_id = :w"
            values = {":running": Status.RUNNING.value, ":w": worker_id}
        job = self._update(job_id, sets={"status": Status.FAILED.value, "error": reason[:1000],
                                         "completed_at": now or J.now_iso()},
                           condition=condition, values=values)
        if job is None:
            current = self.get(job_id)
            if current and current.status == Status.FAILED and (worker_id is None or current.worker_id == worker_id):
                return current
        return job

    def set_results_state(self, job_id: str, expected: ResultsState | str, new: ResultsState | str,
                          **fields: Any) -> Job | None:
        """Move a COMPLETED job's results from `expected` to `new` (with e.g. archived_at,
        restore_tier, restore_requested_at, restored_at); None if the state already moved."""
        expected, new = ResultsState(expected), ResultsState(new)
        if not J.can_transition_results(expected, new):
            raise J.InvalidTransition(f"results {expected} -> {new} not allowed")
        unknown = set(fields) - J.RESULTS_FIELDS
        if unknown:
            raise ValueError(f"fields {sorted(unknown)} cannot change with the results state")
        # validate the values with the model's own validators
        probe = {"job_id": "0" * 32, "user_id": "u", "input_file": "x", "input_key": "x",
                 "input_size": 0, "submitted_at": J.now_iso(), **fields}
        Job.model_validate(probe)
        return self._update(job_id, sets={"results_state": new.value, **fields},
                            condition="#status = :completed AND results_state = :expected",
                            values={":completed": Status.COMPLETED.value, ":expected": expected.value})

    # -- internals -----------------------------------------------------------------------

    def _update(self, job_id: str, *, sets: dict[str, Any], condition: str,
                values: dict[str, Any], extra_set: str | None = None) -> Job | None:
        if not J.JOB_ID_RE.match(job_id or ""):
            return None
        names = {"#status": "status"}
        assignments = []
        all_values = dict(values)
        for i, (field, value) in enumerate(sets.items()):
            names[f"#f{i}"] = field
            all_values[f":v{i}"] = value
            assignments.append(f"#f{i} = :v{i}")
        if extra_set:
            assignments.append(extra_set)
        try:
            out = self.ddb.update_item(
                TableName=self.table, Key={"job_id": {"S": job_id}},
                UpdateExpression="SET " + ", ".join(assignments),
                ConditionExpression=f"attribute_exists(job_id) AND ({condition})",
                ExpressionAttributeNames={k: v for k, v in names.items()
                                          if k in condition or k in " ".join(assignments)},
                ExpressionAttributeValues=to_dynamo(all_values),
                ReturnValues="ALL_NEW")
        except ClientError as exc:
            if is_conditional_failure(exc):
                return None
            raise
        return Job.model_validate(from_dynamo(out["Attributes"]))
