"""What a user may take away from one of their jobs: its outputs as short-lived links, its run log.

Ownership first, always: `owned_job` is `JobStore.get_for_user`, and another user's job and a
missing one raise the same `NoSuchJob` (with the same words), so probing ids tells nothing.
The outputs are the job's `result_keys`, each checked to lie under ``<user>/<job>/`` before it
is listed, signed or read. A link is a presigned GET (`storage.presigned_get`) valid for
`Settings.presigned_ttl_s` (300 s by default) that makes the browser save the file under its
name; none is signed while the results are archived or restoring (a GET would fail anyway).
The run log (NAME.log) is read server-side, at most `LOG_CAP_BYTES` of its end.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from gas import aws, storage
from gas.jobs import Job, ResultsState, Status
from gas.settings import Settings

NO_SUCH_JOB = "No such job. Check the link, or pick the job from your jobs list."
ARCHIVED_MESSAGE = "results are archived; upgrade to premium to restore them"
RESTORING_MESSAGE = "results are being restored from the archive; try again later"
LOG_CAP_BYTES = 64 * 1024
LOG_SUFFIX = ".log"

# What each output of the engine is (annotator/engine/annotate.py names them NAME + suffix).
OUTPUT_KINDS = (
    (".annot.vcf.gz", "Annotated VCF (bgzip)"),
    (".transcripts.parquet", "Per-transcript consequences (Parquet)"),
    (".parquet", "Annotated variants (Parquet)"),
    (".summary.json", "Run summary (JSON)"),
    (LOG_SUFFIX, "Run log (text)"),
)


class NoSuchJob(LookupError):
    """Missing, or not the caller's: the two are indistinguishable on purpose."""

    def __init__(self) -> None:
        super().__init__(NO_SUCH_JOB)


def owned_job(store: Any, job_id: str | None, user_id: str) -> Job:
    """The job if `user_id` owns it; NoSuchJob otherwise (also for a malformed or empty id)."""
    job = store.get_for_user(job_id, user_id) if job_id else None
    if job is None:
        raise NoSuchJob()
    return job


def unavailable_reason(job: Job) -> str | None:
    """Why the job's results cannot be downloaded right now, or None when they can."""
    if job.status == Status.FAILED:
        return f"job {job.job_id} FAILED: {job.error or 'no reason recorded'}; it has no results"
    if job.status != Status.COMPLETED:
        return f"job {job.job_id} is {job.status.value}: it has no results"
    if job.results_state == ResultsState.ARCHIVED:
        return ARCHIVED_MESSAGE
    if job.results_state == ResultsState.RESTORING:
        return RESTORING_MESSAGE
    if job.results_state != ResultsState.AVAILABLE:
        return f"job {job.job_id} has no results yet"
    return None


def owned_result_keys(job: Job) -> list[str]:
    """The job's result keys that really are under <user>/<job>/ (any other is never touched)."""
    return [k for k in job.result_keys if storage.key_belongs_to(k, job.user_id, job.job_id)]


def describe(name: str) -> str:
    for suffix, kind in OUTPUT_KINDS:
        if name.endswith(suffix):
            return kind
    return "Output"


@dataclass(frozen=True)
class Output:
    name: str
    key: str
    size: int | None      # None when the object is missing from the bucket
    kind: str
    url: str | None       # presigned GET; None while the results cannot be downloaded


@dataclass(frozen=True)
class Downloads:
    outputs: list[Output]
    unavailable: str | None  # why there are no links (archived, restoring, not completed)
    ttl_s: int


def _sizes(bucket: str, prefix: str, s3: Any) -> dict[str, int]:
    """Sizes of every object under the job's prefix: one ListObjectsV2 (a job has five)."""
    out: dict[str, int] = {}
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = s3.list_objects_v2(**kwargs)
        out.update({o["Key"]: int(o["Size"]) for o in page.get("Contents", [])})
        if not page.get("IsTruncated"):
            return out
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def downloads(job: Job, user_id: str, settings: Settings, *, s3: Any = None,
              ttl: int | None = None) -> Downloads:
    """The job's outputs, with a presigned GET each when the results are available.

    `job` must come from `owned_job`; it is checked again here, so a caller's slip cannot sign
    another user's objects.
    """
    if job.user_id != user_id:
        raise NoSuchJob()
    ttl = settings.presigned_ttl_s if ttl is None else ttl
    keys = owned_result_keys(job)
    if not keys:
        return Downloads([], unavailable_reason(job), ttl)
    s3 = s3 or aws.s3(settings.region)
    sizes = _sizes(settings.results_bucket, storage.job_prefix(job.user_id, job.job_id), s3)
    reason = unavailable_reason(job)
    outputs = []
    for key in keys:
        name = key.rsplit("/", 1)[-1]
        url = None if reason else storage.presigned_get(key, ttl, download_name=name, settings=settings, s3=s3)
        outputs.append(Output(name=name, key=key, size=sizes.get(key), kind=describe(name), url=url))
    return Downloads(outputs, reason, ttl)


@dataclass(frozen=True)
class RunLog:
    text: str
    size: int          # the whole log's size in bytes
    truncated: bool    # only the last LOG_CAP_BYTES are in `text`


def log_key(job: Job) -> str | None:
    return next((k for k in owned_result_keys(job) if k.endswith(LOG_SUFFIX)), None)


def run_log(job: Job, user_id: str, settings: Settings, *, s3: Any = None,
            cap: int = LOG_CAP_BYTES) -> RunLog | None:
    """The end of the job's NAME.log, read server-side; None when there is none to read
    (not completed, archived or restoring, or the object is gone)."""
    if job.user_id != user_id:
        raise NoSuchJob()
    key = log_key(job)
    if key is None or unavailable_reason(job):
        return None
    s3 = s3 or aws.s3(settings.region)
    try:
        obj = s3.get_object(Bucket=settings.results_bucket, Key=key, Range=f"bytes=-{int(cap)}")
    except ClientError as exc:
        if aws.error_code(exc) in ("NoSuchKey", "404", "InvalidObjectState", "InvalidRange", "403"):
            return None
        raise
    data = obj["Body"].read(cap)
    total = _total_size(obj, len(data))
    truncated = total > len(data)
    if truncated:  # drop the partial first line
        data = data.split(b"\n", 1)[-1]
    return RunLog(text=data.decode("utf-8", "replace"), size=total, truncated=truncated)


def _total_size(obj: dict[str, Any], got: int) -> int:
    """The object's full size from Content-Range ("bytes 10-99/100"), else what we got."""
    content_range = obj.get("ContentRange") or ""
    tail = content_range.rpartition("/")[2]
    return int(tail) if tail.isdigit() else got
