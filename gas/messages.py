"""Every message that crosses a topic or queue, as strict pydantic models.

Our own messages carry ``version`` and forbid unknown fields: a producer and a consumer that
disagree fail loudly as a `PoisonMessage` (which the consumer reports as a batch item failure, so
SQS redrives it to the DLQ) instead of half-working. S3 event notifications are AWS's format and
are parsed loosely (moto's records lack fields real S3 sends, and keys arrive URL-encoded).

SQS bodies arrive either raw (subscription with RawMessageDelivery=true) or wrapped in an SNS
envelope (false); `sqs_body` unwraps both so handlers need not care.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal, Self
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gas import storage
from gas.jobs import JOB_ID_RE, USER_ID_RE, ResultsState

VERSION = 1
MAX_BODY = 256 * 1024  # the SQS/SNS message size limit


class PoisonMessage(ValueError):
    """A message that can never be processed: malformed, wrong version, or failing a rule."""

    def __init__(self, reason: str, body: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.body = body


class Message(BaseModel):
    """Base of our own messages: strict types, no unknown fields, a version."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    version: Literal[1] = VERSION
    job_id: str = Field(pattern=JOB_ID_RE.pattern)
    user_id: str = Field(pattern=USER_ID_RE.pattern)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def parse(cls, body: str | bytes | dict[str, Any]) -> Self:
        """Validate a body (raw JSON, bytes, or an already-decoded dict); PoisonMessage if bad."""
        name = cls.__name__
        if isinstance(body, dict):
            data: Any = body
        else:
            if len(body) > MAX_BODY:
                raise PoisonMessage(f"{name}: body larger than {MAX_BODY} bytes", body)
            try:
                data = json.loads(body)
            except (ValueError, TypeError) as exc:
                raise PoisonMessage(f"{name}: body is not JSON ({exc})", body) from exc
        if not isinstance(data, dict):
            raise PoisonMessage(f"{name}: body is not a JSON object", body)
        if "version" not in data:
            raise PoisonMessage(f"{name}: no version field", body)
        if data["version"] != VERSION:
            raise PoisonMessage(f"{name}: unsupported version {data['version']!r} (expected {VERSION})", body)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise PoisonMessage(f"{name}: {_reason(exc)}", body) from exc


class JobRequest(Message):
    """job-requests topic -> requests queue -> annotator worker."""

    input_bucket: str = Field(min_length=3, max_length=63)
    input_key: str = Field(min_length=1, max_length=1024)
    genome: str = Field(pattern=r"^[A-Za-z0-9._-]{1,32}$")

    @model_validator(mode="after")
    def _key_is_theirs(self) -> Self:
        # The worker reads exactly this key: it must be the job's own upload.
        if not storage.key_belongs_to(self.input_key, self.user_id, self.job_id):
            raise ValueError(f"input_key {self.input_key!r} is not under {self.user_id}/{self.job_id}/")
        return self


class JobResult(Message):
    """job-results topic -> results queue (notify) and the archive state machine."""

    status: Literal["COMPLETED", "FAILED"]
    variants: int | None = Field(default=None, ge=0)
    error: str | None = Field(default=None, max_length=1000)
    results_state: Literal["none", "available", "archived", "restoring"] = ResultsState.NONE.value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.status == "COMPLETED" and (self.variants is None or self.error is not None):
            raise ValueError("a COMPLETED result has variants and no error")
        if self.status == "FAILED" and not self.error:
            raise ValueError("a FAILED result has an error")
        return self


class ArchiveRequest(Message):
    """archive state machine (after the free-plan wait) -> archive topic -> archive queue."""


class ThawRequest(Message):
    """one per archived job when a user upgrades: thaw topic -> thaw queue."""


# ----------------------------------------------------------------------------- envelopes

def sqs_body(record: dict[str, Any]) -> str:
    """The payload of an SQS record (Lambda event `body` or boto3 `Body`), unwrapped from an
    SNS envelope when the subscription does not use raw delivery."""
    body = record.get("body", record.get("Body"))
    if not isinstance(body, str):
        raise PoisonMessage("SQS record has no string body", record)
    return unwrap_sns(body)


def unwrap_sns(body: str) -> str:
    """The SNS `Message` if `body` is an SNS notification envelope, else `body` unchanged."""
    stripped = body.lstrip()
    if not stripped.startswith("{"):
        return body
    try:
        data = json.loads(stripped)
    except ValueError:
        return body
    if (isinstance(data, dict) and data.get("Type") == "Notification"
            and isinstance(data.get("Message"), str) and "TopicArn" in data):
        return data["Message"]
    return body


def parse_record[M: Message](record: dict[str, Any], model: type[M]) -> M:
    """One SQS record -> a validated message of `model` (PoisonMessage otherwise)."""
    return model.parse(sqs_body(record))


# ----------------------------------------------------------------------------- S3 events

class S3ObjectEvent(BaseModel):
    """One S3 event record, keeping what GAS uses. Loose on purpose: moto omits fields."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_name: str   # without the 's3:' prefix, e.g. 'ObjectRestore:Completed'
    event_time: datetime | None = None
    bucket: str
    key: str          # decoded (S3 URL-encodes keys in events, '+' for spaces)
    size: int | None = None

    @property
    def is_restore_completed(self) -> bool:
        return self.event_name.removeprefix("s3:") == "ObjectRestore:Completed"


class RestoreEvent(BaseModel):
    """A completed restore of one results object, mapped back to its job through the key."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str
    user_id: str
    job_id: str


def s3_events(body: str | dict[str, Any]) -> list[S3ObjectEvent]:
    """Every record of an S3 notification (already unwrapped from SNS); [] for s3:TestEvent."""
    try:
        data = json.loads(body) if isinstance(body, str) else body
    except ValueError as exc:
        raise PoisonMessage(f"S3 event is not JSON: {exc}", body) from exc
    if not isinstance(data, dict):
        raise PoisonMessage("S3 event is not an object", body)
    if data.get("Event") == "s3:TestEvent":
        return []
    records = data.get("Records")
    if not isinstance(records, list):
        raise PoisonMessage("S3 event has no Records", body)
    events = []
    for i, rec in enumerate(records):
        try:
            s3 = rec["s3"]
            events.append(S3ObjectEvent(
                event_name=rec["eventName"], event_time=rec.get("eventTime"),
                bucket=s3["bucket"]["name"], key=unquote_plus(s3["object"]["key"]),
                size=s3["object"].get("size")))
        except (KeyError, TypeError, ValidationError) as exc:
            raise PoisonMessage(f"S3 event record {i} malformed: {exc!r}", body) from exc
    return events


def restore_events(record_or_body: dict[str, Any] | str) -> list[RestoreEvent]:
    """The completed restores in one SQS record (or body): S3 -> SNS -> SQS, raw or enveloped.

    Keys outside the results layout are refused as poison: the restore function must never act
    on an object it cannot attribute to a job.
    """
    body = sqs_body(record_or_body) if isinstance(record_or_body, dict) else unwrap_sns(record_or_body)
    out = []
    for ev in s3_events(body):
        if not ev.is_restore_completed:
            continue
        try:
            user_id, job_id, _ = storage.parse_key(ev.key)
        except storage.InvalidKey as exc:
            raise PoisonMessage(f"restored object {ev.key!r}: {exc}", body) from exc
        out.append(RestoreEvent(bucket=ev.bucket, key=ev.key, user_id=user_id, job_id=job_id))
    return out


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "message"
        parts.append(f"{where}: {err.get('msg')}")
    return "; ".join(parts)
