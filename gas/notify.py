"""notify: one email to the job's owner when the job finished (COMPLETED or FAILED).

Called by functions/notify/app.py once per SQS record (`JobResult` from the job-results topic).
SQS delivers at least once, and the worker may publish the same result twice, so the right to
send is claimed on the job item first:

1. read the job item (strongly consistent); missing -> `UnknownJob`; ``notified_at`` already
   set -> return quietly (a duplicate delivery);
2. the owner's address comes from the users table through the job's ``user_id`` (never from
   the message); missing -> `UnknownUser`;
3. render the mail (reads ``NAME.summary.json`` from the results bucket, tolerating its absence);
4. claim: ``SET notified_at, notify_token IF attribute_exists(job_id) AND
   attribute_not_exists(notified_at)``; a lost race returns quietly;
5. send with SES v2 ``SendEmail`` (Simple content: subject, text and HTML) from
   ``settings.sender_email``; if that raises, undo the claim (``REMOVE`` conditional on our
   token) and re-raise so SQS retries the record;
6. best effort: record ``notify_message_id`` (the SES message id) on the job.

Trade-off: a process that dies between 4 and 5 (Lambda timeout, crash) leaves the claim in place,
so that job gets no email: at most once, never twice. docs/notify.md has the details.
"""
from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gas import aws, storage
from gas.emails import Email, render_job_email
from gas.jobs import JOB_ID_RE, TERMINAL, Job, now_iso
from gas.messages import JobResult
from gas.settings import Settings
from gas.store import JobStore, from_dynamo, is_conditional_failure, to_dynamo
from gas.users import UserStore

log = logging.getLogger(__name__)

SUMMARY_SUFFIX = ".summary.json"
MAX_SUMMARY_BYTES = 1024 * 1024


class NotifyError(RuntimeError):
    """The record cannot be handled now; SQS retries it and then moves it to the DLQ."""


class UnknownJob(NotifyError):
    pass


class UnknownUser(NotifyError):
    pass


class JobNotFinished(NotifyError):
    pass


# ----------------------------------------------------------------------------- the claim on the job item

def read_job_item(store: JobStore, job_id: str) -> dict[str, Any] | None:
    """The raw job item (with ``notified_at``, which the `Job` model ignores), strongly consistent."""
    if not JOB_ID_RE.match(job_id or ""):
        return None
    item = store.ddb.get_item(TableName=store.table, Key={"job_id": {"S": job_id}},
                              ConsistentRead=True).get("Item")
    return from_dynamo(item) if item else None


def claim_notification(store: JobStore, job_id: str, token: str, now: str | None = None) -> bool:
    """Take the right to send this job's email; False if someone already has it (or no job)."""
    try:
        store.ddb.update_item(
            TableName=store.table, Key={"job_id": {"S": job_id}},
            UpdateExpression="SET notified_at = :now, notify_token = :t",
            ConditionExpression="attribute_exists(job_id) AND attribute_not_exists(notified_at)",
            ExpressionAttributeValues=to_dynamo({":now": now or now_iso(), ":t": token}))
    except ClientError as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True


def release_notification(store: JobStore, job_id: str, token: str) -> bool:
    """Undo our claim (only ours: conditional on the token); False if it was not ours any more."""
    try:
        store.ddb.update_item(
            TableName=store.table, Key={"job_id": {"S": job_id}},
            UpdateExpression="REMOVE notified_at, notify_token",
            ConditionExpression="notify_token = :t",
            ExpressionAttributeValues=to_dynamo({":t": token}))
    except ClientError as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True


def _record_message_id(store: JobStore, job_id: str, token: str, message_id: str) -> None:
    try:
        store.ddb.update_item(
            TableName=store.table, Key={"job_id": {"S": job_id}},
            UpdateExpression="SET notify_message_id = :m",
            ConditionExpression="notify_token = :t",
            ExpressionAttributeValues=to_dynamo({":m": message_id, ":t": token}))
    except (ClientError, BotoCoreError) as exc:  # the mail is out: never retry because of this
        log.warning("job %s: email sent (%s) but not recorded: %s", job_id, message_id, exc)


# ----------------------------------------------------------------------------- the summary object

def summary_key(job: Job, s3: Any, bucket: str) -> str | None:
    """The job's NAME.summary.json key: from ``result_keys`` if listed, else the job's prefix."""
    for key in job.result_keys:
        if key.endswith(SUMMARY_SUFFIX) and storage.key_belongs_to(key, job.user_id, job.job_id):
            return key
    out = s3.list_objects_v2(Bucket=bucket, Prefix=storage.job_prefix(job.user_id, job.job_id), MaxKeys=50)
    for obj in out.get("Contents", []):
        key = obj["Key"]
        if key.endswith(SUMMARY_SUFFIX) and storage.key_belongs_to(key, job.user_id, job.job_id):
            return key
    return None


def load_summary(job: Job, settings: Settings, s3: Any = None) -> dict[str, Any] | None:
    """The parsed summary, or None when it is missing, archived, too large or not JSON."""
    s3 = s3 or aws.s3(settings.region)
    bucket = settings.results_bucket
    try:
        key = summary_key(job, s3, bucket)
        if key is None:
            return None
        obj = s3.get_object(Bucket=bucket, Key=key)
        if int(obj.get("ContentLength", 0)) > MAX_SUMMARY_BYTES:
            log.warning("job %s: %s is larger than %d bytes; not read", job.job_id, key, MAX_SUMMARY_BYTES)
            return None
        data = json.loads(obj["Body"].read(MAX_SUMMARY_BYTES + 1))
    except (ClientError, BotoCoreError, ValueError, storage.InvalidKey) as exc:
        log.warning("job %s: summary not available: %s", job.job_id, exc)
        return None
    return data if isinstance(data, dict) else None


# ----------------------------------------------------------------------------- sending

def ses_client(settings: Settings) -> Any:
    """The SES v2 client (a seam for tests: monkeypatch it to inject failures)."""
    return aws.client("sesv2", region=settings.region)


def send(email: Email, to: str, settings: Settings, ses: Any = None) -> str:
    """Send with SES v2 SendEmail (Simple content, UTF-8); the SES message id."""
    ses = ses or ses_client(settings)
    out = ses.send_email(
        FromEmailAddress=settings.sender_email,
        Destination={"ToAddresses": [to]},
        Content={"Simple": {
            "Subject": {"Data": email.subject, "Charset": "UTF-8"},
            "Body": {"Text": {"Data": email.text, "Charset": "UTF-8"},
                     "Html": {"Data": email.html, "Charset": "UTF-8"}}}})
    return out.get("MessageId", "")


# ----------------------------------------------------------------------------- the domain call

def notify_job_result(result: JobResult, settings: Settings, *, store: JobStore | None = None,
                      users: UserStore | None = None, s3: Any = None, ses: Any = None) -> None:
    """Email the job's owner once. Raises (so the record is retried, then dead-lettered) for an
    unknown job or user, a job that is not finished yet, or a failed send (claim undone)."""
    store = store or JobStore(settings)
    users = users or UserStore(settings)
    item = read_job_item(store, result.job_id)
    if item is None:
        raise UnknownJob(f"job {result.job_id} does not exist")
    if item.get("notified_at"):
        log.info("job %s: already notified at %s", result.job_id, item["notified_at"])
        return
    job = Job.model_validate(item)
    if job.user_id != result.user_id:
        raise UnknownJob(f"job {job.job_id} does not belong to user {result.user_id}")
    if job.status not in TERMINAL:
        raise JobNotFinished(f"job {job.job_id} is {job.status.value}, not finished yet")
    user = users.get(job.user_id)
    if user is None:
        raise UnknownUser(f"user {job.user_id} of job {job.job_id} does not exist")

    summary = load_summary(job, settings, s3) if job.status.value == "COMPLETED" else None
    email = render_job_email(job, summary, settings.app_url, variants=result.variants, error=result.error)

    token = secrets.token_hex(16)
    if not claim_notification(store, job.job_id, token):
        log.info("job %s: another delivery claimed the email", job.job_id)
        return
    try:
        message_id = send(email, user.email, settings, ses)
    except BaseException:
        try:
            release_notification(store, job.job_id, token)
        except (ClientError, BotoCoreError) as undo:  # keep the send error; the claim stays
            log.error("job %s: send failed and the claim could not be undone: %s", job.job_id, undo)
        raise
    log.info("job %s: emailed its owner (SES message %s)", job.job_id, message_id)
    _record_message_id(store, job.job_id, token, message_id)
