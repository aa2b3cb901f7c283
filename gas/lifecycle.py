"""Results lifecycle: archive a free user's results to Glacier, thaw them when the user upgrades.

The domain behind the archive, thaw and restore functions (functions/*/app.py) and `gas subscribe`.
Plain code over the core (`gas.store`, `gas.users`, `gas.storage`); docs/lifecycle.md has the flow.

Every function is safe to repeat: each S3 step is idempotent (an object already in the target
class counts as done, a restore already running counts as requested) and each state change is a
conditional update from `gas.jobs`' results transitions, so a redelivered message is a no-op.
A function raises only for something worth a retry (S3 or DynamoDB errors, Glacier capacity
exhausted on every tier, a restore event that arrived before the thaw was recorded); the Lambda
wrapper then fails only that SQS record.

    available --archive_job--> archived --thaw_job--> restoring --complete_restore--> available
"""
from __future__ import annotations

import logging
from typing import Any

from gas import aws, storage
from gas.jobs import RESTORE_TIERS, Job, ResultsState, Status, now_iso
from gas.messages import ArchiveRequest, RestoreEvent, ThawRequest
from gas.settings import Settings

log = logging.getLogger(__name__)

_DONE_RESTORES = (storage.RestoreOutcome.STARTED, storage.RestoreOutcome.IN_PROGRESS)
# outcomes after which S3 sends no new ObjectRestore:Completed event: finish those ourselves
_NO_EVENT_RESTORES = (storage.RestoreOutcome.ALREADY_RESTORED, storage.RestoreOutcome.NOT_ARCHIVED)


class RestoreNotReady(RuntimeError):
    """A step that must wait for another one (retry later): e.g. Glacier capacity on every tier,
    or a restore-completed event that arrived before the thaw recorded `restoring`."""


# ----------------------------------------------------------------------------- plumbing

def _stores(settings: Settings, jobs: Any = None, users: Any = None) -> tuple[Any, Any]:
    from gas.store import JobStore
    from gas.users import UserStore
    return jobs or JobStore(settings), users or UserStore(settings)


def _own_job(jobs: Any, job_id: str, user_id: str) -> Job | None:
    """The job if it exists and belongs to `user_id` (a message naming another user's job is
    ignored, never acted on)."""
    job = jobs.get(job_id)
    if job is None:
        log.warning("lifecycle: no such job %s", job_id)
        return None
    if job.user_id != user_id:
        log.warning("lifecycle: job %s belongs to %s, not %s: ignored", job_id, job.user_id, user_id)
        return None
    return job


def _result_keys(job: Job) -> list[str]:
    """The job's result keys, each checked to be under <user>/<job>/ (never touch another prefix)."""
    for key in job.result_keys:
        if not storage.key_belongs_to(key, job.user_id, job.job_id):
            raise storage.InvalidKey(f"job {job.job_id}: result key {key!r} outside {job.user_id}/{job.job_id}/")
    return list(job.result_keys)


def _is_premium(users: Any, user_id: str) -> bool:
    from gas.users import Plan
    return users.plan(user_id) == Plan.PREMIUM


def publish_thaw(job_id: str, user_id: str, settings: Settings, *, sns: Any = None) -> None:
    """One ThawRequest on the thaw topic."""
    sns = sns or aws.sns(settings.region)
    sns.publish(TopicArn=aws.resolve_arn("sns", settings.thaw_topic, settings),
                Message=ThawRequest(job_id=job_id, user_id=user_id).to_json())


# ----------------------------------------------------------------------------- archive

def archive_job(request: ArchiveRequest, settings: Settings, *, jobs: Any = None, users: Any = None,
                s3: Any = None, sns: Any = None) -> ResultsState | None:
    """Move a free user's results to GLACIER and the job available -> archived.

    Returns the job's results state afterwards (None when there is no such job of this user).
    Premium users keep STANDARD. If the user upgraded while we were archiving, the job is left
    archived and a ThawRequest is published so it ends restored like any other archived job.
    """
    jobs, users = _stores(settings, jobs, users)
    s3 = s3 or aws.s3(settings.region)
    job = _own_job(jobs, request.job_id, request.user_id)
    if job is None:
        return None
    if job.status != Status.COMPLETED or job.results_state != ResultsState.AVAILABLE:
        log.info("archive: job %s is %s/%s: nothing to do", job.job_id, job.status, job.results_state)
        return job.results_state
    bucket = settings.results_bucket
    keys = _result_keys(job)
    if _is_premium(users, job.user_id):
        # An earlier delivery may have moved some objects before the user upgraded (and then
        # crashed before recording it): the job would say available over GLACIER objects.
        if not any(storage.storage_class(bucket, k, s3=s3) == "GLACIER" for k in keys):
            log.info("archive: user %s is premium: job %s keeps STANDARD", job.user_id, job.job_id)
            return job.results_state
        log.info("archive: job %s half-archived before an upgrade: finishing, then thawing", job.job_id)
    for key in keys:
        storage.move_to_glacier(bucket, key, s3=s3)
    done = jobs.set_results_state(job.job_id, ResultsState.AVAILABLE, ResultsState.ARCHIVED,
                                  archived_at=now_iso())
    if done is None:  # another delivery got there first; it (or we, below) handles an upgrade
        log.info("archive: job %s results already moved on", job.job_id)
    # Re-read the plan *after* recording archived: an upgrade that ran `subscribe` before this
    # point did not see the job as archived, so it is ours to thaw. (A duplicate ThawRequest,
    # when both see it, is harmless: thaw_job is idempotent.)
    if _is_premium(users, job.user_id):
        current = jobs.get(job.job_id)
        if current is not None and current.results_state == ResultsState.ARCHIVED:
            log.info("archive: user %s upgraded while archiving job %s: requesting a thaw",
                     job.user_id, job.job_id)
            publish_thaw(job.job_id, job.user_id, settings, sns=sns)
        return current.results_state if current else None
    return ResultsState.ARCHIVED


# ----------------------------------------------------------------------------- subscribe

def subscribe(user_id: str, settings: Settings, *, jobs: Any = None, users: Any = None,
              sns: Any = None) -> int:
    """Make the user premium and publish one ThawRequest per archived job; the count published.

    Repeating it is safe: it publishes again for jobs still archived (thaw_job is idempotent);
    jobs already restoring or available are not in the archived index.
    """
    from gas.users import Plan
    jobs, users = _stores(settings, jobs, users)
    if users.get(user_id) is None:
        raise LookupError(f"no such user: {user_id}")
    changed = users.set_plan(user_id, Plan.PREMIUM)
    log.info("subscribe: user %s premium (%s)", user_id, "upgraded" if changed else "already premium")
    sns = sns or aws.sns(settings.region)
    count = 0
    for job in jobs.archived_for_user(user_id):
        publish_thaw(job.job_id, user_id, settings, sns=sns)
        count += 1
    log.info("subscribe: %d thaw request(s) for user %s", count, user_id)
    return count


# ----------------------------------------------------------------------------- thaw

def _slowest(tiers: list[str]) -> str:
    return max(tiers, key=RESTORE_TIERS.index)


def thaw_job(request: ThawRequest, settings: Settings, *, jobs: Any = None, s3: Any = None,
             tiers: tuple[str, ...] = ("Expedited", "Standard")) -> ResultsState | None:
    """Request a restore of every result object and move the job archived -> restoring.

    Expedited first, Standard when S3 answers 503 GlacierExpeditedRetrievalNotAvailable; a 409
    RestoreAlreadyInProgress counts as requested. `restore_tier` records the slowest tier used.
    Objects already restored (200) or already STANDARD get no new S3 event, so they are copied
    back here and the job finished when nothing else is pending.
    """
    jobs, _ = _stores(settings, jobs, users=object())
    s3 = s3 or aws.s3(settings.region)
    job = _own_job(jobs, request.job_id, request.user_id)
    if job is None:
        return None
    if job.status != Status.COMPLETED or job.results_state != ResultsState.ARCHIVED:
        log.info("thaw: job %s is %s/%s: nothing to do", job.job_id, job.status, job.results_state)
        return job.results_state
    bucket = settings.results_bucket
    used: list[str] = []
    no_event: list[str] = []
    for key in _result_keys(job):
        tier, outcome = storage.restore_with_fallback(bucket, key, tiers, s3=s3)
        if outcome == storage.RestoreOutcome.UNAVAILABLE:
            raise RestoreNotReady(f"thaw: no Glacier retrieval capacity for {key} on {tiers}")
        if outcome in _DONE_RESTORES:
            used.append(tier)
        elif outcome in _NO_EVENT_RESTORES:
            no_event.append(key)
        log.info("thaw: %s %s (%s)", key, outcome, tier)
    fields = {"restore_requested_at": now_iso()}
    if used:
        fields["restore_tier"] = _slowest(used)
    jobs.set_results_state(job.job_id, ResultsState.ARCHIVED, ResultsState.RESTORING, **fields)
    for key in no_event:
        storage.copy_back_to_standard(bucket, key, s3=s3)
    if no_event:
        return _finish_if_standard(jobs, job.job_id, settings, s3)
    return ResultsState.RESTORING


# ----------------------------------------------------------------------------- restore completed

def complete_restore(event: RestoreEvent, settings: Settings, *, jobs: Any = None,
                     s3: Any = None) -> ResultsState | None:
    """Copy one restored object back in place as STANDARD; when every result of the job is
    STANDARD, move it restoring -> available. Duplicates and partial batches are fine."""
    jobs, _ = _stores(settings, jobs, users=object())
    s3 = s3 or aws.s3(settings.region)
    if event.bucket != settings.results_bucket:
        log.warning("restore: %s/%s is not in the results bucket: ignored", event.bucket, event.key)
        return None
    job = _own_job(jobs, event.job_id, event.user_id)
    if job is None:
        return None
    if event.key not in job.result_keys:
        log.warning("restore: %s is not a result of job %s: ignored", event.key, job.job_id)
        return job.results_state
    if job.results_state == ResultsState.ARCHIVED:
        # the thaw requested the restore but has not recorded `restoring` yet: retry shortly
        raise RestoreNotReady(f"restore: job {job.job_id} is still archived (thaw not recorded yet)")
    if job.results_state != ResultsState.RESTORING:
        log.info("restore: job %s is %s: nothing to do", job.job_id, job.results_state)
        return job.results_state
    storage.copy_back_to_standard(event.bucket, event.key, s3=s3)
    return _finish_if_standard(jobs, job.job_id, settings, s3)


def _finish_if_standard(jobs: Any, job_id: str, settings: Settings, s3: Any) -> ResultsState | None:
    job = jobs.get(job_id)
    if job is None or job.results_state != ResultsState.RESTORING:
        return job.results_state if job else None
    pending = [k for k in _result_keys(job)
               if storage.storage_class(settings.results_bucket, k, s3=s3) != "STANDARD"]
    if pending:
        log.info("restore: job %s waits for %d object(s)", job_id, len(pending))
        return ResultsState.RESTORING
    done = jobs.set_results_state(job_id, ResultsState.RESTORING, ResultsState.AVAILABLE,
                                  restored_at=now_iso())
    log.info("restore: job %s results available again%s", job_id, "" if done else " (already)")
    return ResultsState.AVAILABLE
