"""Processing one job request from the requests queue: the worker's logic, AWS behind adapters.

Why a module apart from the loop (`annotator.worker`): every decision here (claim, duplicate,
poison, invalid input, lost claim, shutdown) is unit-tested with in-memory fakes of the small
Protocols below, and the real adapters are thin wrappers over the shared core (`gas.store`,
`gas.users`, `gas.storage`, `gas.messages`).

Order of effects for a job (docs/worker.md): claim -> download -> annotate (heartbeats) ->
upload every output -> complete -> publish JobResult -> start the archive wait (free plan) ->
delete the message. The message is deleted only once the result is durable, so a crash at any
point leaves it to reappear after its visibility timeout and the job to be re-claimed once its
heartbeat is stale; the re-run overwrites the same result keys.
"""
from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

from annotator.engine.errors import AnnotationError
from gas import aws, storage
from gas import jobs as J
from gas.jobs import Job, Status
from gas.messages import JobRequest, JobResult, PoisonMessage, sqs_body
from gas.settings import Settings
from gas.store import DEFAULT_STALE_AFTER_S, JobStore
from gas.users import Plan, UserStore

log = logging.getLogger("gas.worker")

MAX_VISIBILITY_S = 12 * 3600      # SQS cap on a message's total invisibility since receipt
PROGRESS_EVERY_S = 2.0            # throttle for progress writes to the jobs table
# One job's annotation may run this long, then it is FAILED with the reason. Why: the input
# bounds (upload size, decompression ratio) do not bound the work: a 150 MB gzip can hold 150 GB
# of blank lines or of one repeated record, hours of a worker. 1M variants take about 7 s on
# 2 cores, so 6 h is far beyond any real upload; it also stays under MAX_VISIBILITY_S, after
# which SQS would hand the message to another worker while this one still runs it.
DEFAULT_TIME_LIMIT_S = 6 * 3600


class Outcome(StrEnum):
    """What happened to one message (the loop logs it; tests assert it)."""

    COMPLETED = "completed"    # results durable, published, message deleted
    FAILED = "failed"          # input rejected: job FAILED, published, message deleted
    DUPLICATE = "duplicate"    # job already finished: announced again, message deleted, no work
    BUSY = "busy"              # another worker holds a live claim: message left alone
    POISON = "poison"          # malformed or inconsistent: left for the DLQ
    LOST = "lost"              # our claim was taken over mid-job: message left alone
    RELEASED = "released"      # shutdown: claim released, message visible again
    RETRY = "retry"            # unexpected error: claim released, message retried later


class ClaimLost(Exception):
    """Raised inside the engine's progress callback to stop work we no longer own."""


class TimeLimitExceeded(AnnotationError):
    """Raised inside the engine's progress callback when a job outlives RunConfig.time_limit_s;
    an AnnotationError, so the job fails with this reason (a retry would take as long)."""

    def __init__(self, limit_s: float) -> None:
        super().__init__(f"the annotation ran longer than the {_duration(limit_s)} limit for one job "
                         "and was stopped; the input file is kept. Split it into smaller files, or ask "
                         "the operators to raise GAS_JOB_TIME_LIMIT_S")


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}-hour"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}-minute"
    return f"{seconds:g}-second"


# ----------------------------------------------------------------------------- ports

class Store(Protocol):
    def get(self, job_id: str) -> Job | None: ...
    def claim(self, job_id: str, worker_id: str, now: str | None = None,
              stale_after_s: float = DEFAULT_STALE_AFTER_S) -> Job | None: ...
    def heartbeat(self, job_id: str, worker_id: str, progress: float, now: str | None = None) -> bool: ...
    def complete(self, job_id: str, worker_id: str, variants: int, result_keys: list[str],
                 now: str | None = None) -> Job | None: ...
    def fail(self, job_id: str, reason: str, worker_id: str | None = None,
             now: str | None = None) -> Job | None: ...
    def release(self, job_id: str, worker_id: str) -> bool: ...


class Plans(Protocol):
    def plan(self, user_id: str) -> Plan | None: ...


class Files(Protocol):
    def download(self, bucket: str, key: str, dest: Path) -> None: ...
    def upload(self, bucket: str, key: str, src: Path) -> None: ...


class Queue(Protocol):
    def delete(self, receipt: str) -> None: ...
    def set_visibility(self, receipt: str, seconds: int) -> None: ...


class Publisher(Protocol):
    def publish(self, result: JobResult) -> None: ...


class Archiver(Protocol):
    def start(self, job_id: str, user_id: str, wait_seconds: int) -> None: ...


class EngineResult(Protocol):
    stats: dict

    def paths(self) -> list[Path]: ...


# engine(input_path, outdir, progress) -> result; raises AnnotationError for bad input
Engine = Callable[[Path, Path, Callable[[float], None]], EngineResult]


class InputMissing(Exception):
    """The job's input object is not in the inputs bucket (deleted, or never uploaded)."""


@dataclass
class Received:
    """One SQS message as the runner needs it."""

    body: str
    receipt: str
    receive_count: int = 1
    received_at: float = field(default_factory=time.monotonic)

    @classmethod
    def from_sqs(cls, msg: dict[str, Any]) -> Received:
        attrs = msg.get("Attributes", {})
        return cls(body=msg.get("Body", ""), receipt=msg["ReceiptHandle"],
                   receive_count=int(attrs.get("ApproximateReceiveCount", 1)))


@dataclass
class RunConfig:
    """Timing knobs; defaults suit production, tests shrink them."""

    stale_after_s: float = DEFAULT_STALE_AFTER_S   # must exceed heartbeat_every_s several times
    heartbeat_every_s: float = 60.0                # visibility + liveness tick
    visibility_s: int = 300                        # each tick makes the message invisible this long
    progress_every_s: float = PROGRESS_EVERY_S
    grace_s: float = 60.0                          # SIGTERM: how long the current job may still run
    retry_delay_s: int = 30                        # unexpected error: when the message comes back
    max_receive_count: int = 3                     # the queue's redrive maxReceiveCount
    time_limit_s: float = DEFAULT_TIME_LIMIT_S     # one job's annotation, then FAILED (see above)
    work_dir: Path | None = None


# ----------------------------------------------------------------------------- the runner

class JobRunner:
    """Processes one received message at a time; `shutdown()` may be called from a signal."""

    def __init__(self, *, settings: Settings, worker_id: str, store: Store, plans: Plans, files: Files,
                 queue: Queue, publisher: Publisher, archiver: Archiver, engine: Engine,
                 config: RunConfig | None = None) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self.store, self.plans, self.files = store, plans, files
        self.queue, self.publisher, self.archiver, self.engine = queue, publisher, archiver, engine
        self.config = config or RunConfig()
        self.stopping = threading.Event()
        self._stop_deadline: float | None = None

    # -- shutdown ------------------------------------------------------------------------

    def shutdown(self, grace_s: float | None = None) -> None:
        """Stop after the current job, or give it up once `grace_s` has passed (SIGTERM)."""
        grace = self.config.grace_s if grace_s is None else grace_s
        self._stop_deadline = time.monotonic() + grace
        self.stopping.set()

    def _past_grace(self) -> bool:
        return self._stop_deadline is not None and time.monotonic() >= self._stop_deadline

    # -- one message ---------------------------------------------------------------------

    def process(self, msg: Received) -> Outcome:
        """Handle one message end to end; never raises (the loop must outlive any message).

        An error outside the job run itself (the claim, reading the job, announcing a duplicate:
        DynamoDB or SNS throttled past botocore's retries) brings the message back after
        `retry_delay_s`, like an error inside the run does, instead of ending the worker process."""
        try:
            return self._process(msg)
        except Exception:  # transient AWS error around the claim: retried later
            log.exception("message (receive %d): unexpected error before or after the job run; "
                          "it comes back in %d s", msg.receive_count, self.config.retry_delay_s)
            _quietly(self.queue.set_visibility, msg.receipt, self.config.retry_delay_s)
            return Outcome.RETRY

    def _process(self, msg: Received) -> Outcome:
        try:
            request = JobRequest.parse(sqs_body({"Body": msg.body}))
            if request.input_bucket != self.settings.inputs_bucket:
                raise PoisonMessage(f"input_bucket {request.input_bucket!r} is not the inputs bucket")
        except PoisonMessage as exc:
            return self._poison(msg, exc.reason, _named_job(msg.body))

        last_receive = msg.receive_count >= self.config.max_receive_count
        before = self.store.get(request.job_id) if last_receive else None
        job = self.store.claim(request.job_id, self.worker_id, stale_after_s=self.config.stale_after_s)
        if job is None:
            current = self.store.get(request.job_id)
            if current is None:
                return self._poison(msg, f"job {request.job_id} does not exist", None)
            if current.terminal:
                log.info("job %s already %s: duplicate delivery, announced again, no work", current.job_id,
                         current.status)
                self._announce(current)
                self.queue.delete(msg.receipt)
                return Outcome.DUPLICATE
            log.info("job %s is running on %s: message left alone", current.job_id, current.worker_id)
            return Outcome.BUSY
        if job.user_id != request.user_id or job.input_key != request.input_key:
            reason = "request does not match the job (user or input key differ)"
            failed = self.store.fail(job.job_id, reason, worker_id=self.worker_id)
            if failed is not None:
                self._publish_failed(failed)
            log.error("job %s: %s; message left for the DLQ", job.job_id, reason)
            return Outcome.POISON
        if last_receive and before is not None and before.status == Status.RUNNING and before.worker_id:
            return self._give_up(msg, job)   # taken over from a worker that died (never released)
        return self._run(msg, request, job)

    def _run(self, msg: Received, request: JobRequest, job: Job) -> Outcome:
        beat = _Heartbeat(self, msg, job.job_id)
        beat.start()
        try:
            with tempfile.TemporaryDirectory(prefix=f"gas-{job.job_id}-", dir=self.config.work_dir) as tmp:
                src = Path(tmp) / "in" / storage.safe_filename(request.input_key.rsplit("/", 1)[-1])
                src.parent.mkdir()
                self.files.download(request.input_bucket, request.input_key, src)
                beat.check()
                result = self.engine(src, Path(tmp) / "out", beat.progress)
                beat.check()
                keys = []
                for path in result.paths():
                    key = storage.result_key(job.user_id, job.job_id, path.name)
                    self.files.upload(self.settings.results_bucket, key, path)
                    keys.append(key)
            variants = int(result.stats.get("records", 0))
            beat.stop()
            if beat.released:
                return Outcome.RELEASED
            done = self.store.complete(job.job_id, self.worker_id, variants, keys)
            if done is None:
                log.warning("job %s: claim lost before completion; message left alone", job.job_id)
                return Outcome.LOST
            self._announce(done)
            self.queue.delete(msg.receipt)
            log.info("job %s completed: %d variants, %d result objects", done.job_id, variants, len(keys))
            return Outcome.COMPLETED
        except (AnnotationError, InputMissing) as exc:
            beat.stop()
            if beat.released:
                return Outcome.RELEASED
            reason = str(exc) or type(exc).__name__
            failed = self.store.fail(job.job_id, reason, worker_id=self.worker_id)
            if failed is None:
                log.warning("job %s: claim lost before failing it; message left alone", job.job_id)
                return Outcome.LOST
            self._publish_failed(failed)
            self.queue.delete(msg.receipt)  # the input object is kept: the user may inspect it
            log.info("job %s failed: %s", job.job_id, reason)
            return Outcome.FAILED
        except ClaimLost:
            beat.stop()
            if beat.released:
                return Outcome.RELEASED
            log.warning("job %s: claim taken over by another worker; stopped", job.job_id)
            return Outcome.LOST
        except Exception as exc:  # noqa: BLE001 - transient AWS error, disk full, engine bug: retried
            beat.stop()
            if beat.released:
                return Outcome.RELEASED
            return self._unexpected(msg, job, exc)

    # -- failure paths ---------------------------------------------------------------------

    def _poison(self, msg: Received, reason: str, job_id: str | None) -> Outcome:
        """Fail the job it names (if any) and leave the message invisible: after
        maxReceiveCount receipts SQS moves it to the DLQ. Never delete it, never retry it now."""
        log.error("poison message (receive %d): %s", msg.receive_count, reason)
        if job_id is not None:
            failed = self.store.fail(job_id, f"invalid job request: {reason}")
            if failed is not None:
                self._publish_failed(failed)
        return Outcome.POISON

    def _give_up(self, msg: Received, job: Job) -> Outcome:
        """The last receive before the DLQ, and the job's previous worker died holding it (kill -9,
        out of memory, a crash the process could not catch: its claim was never released). If
        this run died too, SQS would move the message to the DLQ and the job would stay RUNNING
        for ever; so the job is FAILED with the reason, announced, and the message deleted."""
        reason = (f"the annotation was interrupted {job.attempts - 1} time(s) before it could finish "
                  f"(worker stopped: killed, restarted or out of memory); giving up after "
                  f"{msg.receive_count} deliveries")
        failed = self.store.fail(job.job_id, reason, worker_id=self.worker_id)
        if failed is None:
            log.warning("job %s: claim lost before giving up; message left alone", job.job_id)
            return Outcome.LOST
        self._publish_failed(failed)
        self.queue.delete(msg.receipt)
        log.error("job %s: %s (receive %d of %d)", job.job_id, reason, msg.receive_count,
                  self.config.max_receive_count)
        return Outcome.FAILED

    def _unexpected(self, msg: Received, job: Job, exc: Exception) -> Outcome:
        """Release the claim so a retry can start at once, and bring the message back after a
        short delay; on the last receipt before the DLQ, fail the job so nobody waits forever."""
        log.exception("job %s: unexpected error (receive %d)", job.job_id, msg.receive_count)
        if msg.receive_count >= self.config.max_receive_count:
            failed = self.store.fail(job.job_id, f"internal error after {msg.receive_count} attempts "
                                                 f"({type(exc).__name__})", worker_id=self.worker_id)
            if failed is not None:
                self._publish_failed(failed)
            return Outcome.RETRY  # the message goes on to the DLQ for inspection
        self.store.release(job.job_id, self.worker_id)
        _quietly(self.queue.set_visibility, msg.receipt, self.config.retry_delay_s)
        return Outcome.RETRY

    def _announce(self, job: Job) -> None:
        """Tell the system a job finished: its result message and, for a free user's completed
        job, the archive wait. Both are safe to repeat (notify sends once per job; the archive
        execution is named by the job id), so a duplicate delivery repeats them: a worker that
        died between completing a job and announcing it would otherwise leave it unannounced."""
        if job.status != Status.COMPLETED:
            self._publish_failed(job)
            return
        self.publisher.publish(JobResult(job_id=job.job_id, user_id=job.user_id, status="COMPLETED",
                                         variants=job.variants, results_state=job.results_state.value))
        if self.plans.plan(job.user_id) != Plan.PREMIUM:  # unknown user: archive; the function re-checks
            self.archiver.start(job.job_id, job.user_id, self.settings.archive_delay_s)

    def _publish_failed(self, job: Job) -> None:
        if job.status == Status.FAILED:
            self.publisher.publish(JobResult(job_id=job.job_id, user_id=job.user_id, status="FAILED",
                                             error=(job.error or "failed")[:1000]))


def _named_job(body: str) -> str | None:
    """The job id a malformed body names, if it names one validly (to fail that job)."""
    try:
        data = json.loads(sqs_body({"Body": body}))
    except (ValueError, TypeError, PoisonMessage):
        return None
    job_id = data.get("job_id") if isinstance(data, dict) else None
    return job_id if isinstance(job_id, str) and J.JOB_ID_RE.match(job_id) else None


def _quietly(fn: Callable[..., Any], *args: Any) -> bool:
    try:
        fn(*args)
        return True
    except Exception:  # best effort: the visibility timeout is the fallback
        log.warning("%s failed", getattr(fn, "__name__", fn), exc_info=True)
        return False


class _Heartbeat:
    """While a job runs: extend the message's visibility and record liveness on a thread;
    write progress (throttled) from the engine's callback; give the job up after SIGTERM's grace."""

    def __init__(self, runner: JobRunner, msg: Received, job_id: str) -> None:
        self.runner, self.msg, self.job_id = runner, msg, job_id
        self.cfg = runner.config
        self.lost = threading.Event()
        self.released = False
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._progress = 0.0
        self._last_write = self._started = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{job_id[:8]}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=30)

    def check(self) -> None:
        """Raise ClaimLost when the claim is gone or the shutdown grace is over."""
        if self.lost.is_set():
            raise ClaimLost(self.job_id)
        if self.runner._past_grace():
            self._release()
            raise ClaimLost(self.job_id)

    def progress(self, fraction: float) -> None:
        """The engine's progress callback: throttled store writes; stops the engine if needed
        (claim lost, shutdown, time limit). The engine calls it at least once per chunk of
        input lines, records or blank, so a stop is noticed within a chunk's time."""
        self.check()
        if time.monotonic() - self._started > self.cfg.time_limit_s:
            raise TimeLimitExceeded(self.cfg.time_limit_s)
        fraction = min(1.0, max(0.0, float(fraction)))
        with self._lock:
            self._progress = fraction
            due = time.monotonic() - self._last_write >= self.cfg.progress_every_s
        if due:
            self._write()
            self.check()

    def _write(self) -> None:
        with self._lock:
            self._last_write = time.monotonic()
            fraction = self._progress
        try:
            if not self.runner.store.heartbeat(self.job_id, self.runner.worker_id, fraction):
                self.lost.set()
        except Exception:
            log.warning("job %s: heartbeat write failed", self.job_id, exc_info=True)

    def _loop(self) -> None:
        poll = min(self.cfg.heartbeat_every_s, 1.0)  # short, so a shutdown's grace is noticed
        next_beat = time.monotonic() + self.cfg.heartbeat_every_s
        while not self._done.wait(poll):
            if self.runner._past_grace():
                self._release()
                return
            now = time.monotonic()
            if now < next_beat:
                continue
            next_beat = now + self.cfg.heartbeat_every_s
            if now - self._last_write >= self.cfg.heartbeat_every_s / 2:
                self._write()
            held = now - self.msg.received_at
            if held + self.cfg.visibility_s < MAX_VISIBILITY_S:
                _quietly(self.runner.queue.set_visibility, self.msg.receipt, self.cfg.visibility_s)

    def _release(self) -> None:
        """Shutdown past the grace: make the job claimable and the message visible at once."""
        with self._lock:
            if self.released:
                return
            self.released = True
        self.lost.set()
        _quietly(self.runner.store.release, self.job_id, self.runner.worker_id)
        _quietly(self.runner.queue.set_visibility, self.msg.receipt, 0)
        log.warning("job %s released at shutdown: another worker will take it", self.job_id)


# ----------------------------------------------------------------------------- AWS adapters

class S3Files:
    """Managed S3 transfers (multipart for big files) through the shared client."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def download(self, bucket: str, key: str, dest: Path) -> None:
        try:
            self.s3.download_file(bucket, key, str(dest))
        except ClientError as exc:
            if aws.error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                raise InputMissing(f"the input file {key.rsplit('/', 1)[-1]} is no longer available") from exc
            raise

    def upload(self, bucket: str, key: str, src: Path) -> None:
        self.s3.upload_file(str(src), bucket, key)


class SqsQueue:
    def __init__(self, sqs: Any, url: str) -> None:
        self.sqs, self.url = sqs, url

    def delete(self, receipt: str) -> None:
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=receipt)

    def set_visibility(self, receipt: str, seconds: int) -> None:
        self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=receipt,
                                           VisibilityTimeout=int(seconds))


class SnsPublisher:
    def __init__(self, sns: Any, topic_arn: str) -> None:
        self.sns, self.topic_arn = sns, topic_arn

    def publish(self, result: JobResult) -> None:
        self.sns.publish(TopicArn=self.topic_arn, Message=result.to_json(),
                         MessageAttributes={"status": {"DataType": "String", "StringValue": result.status}})


class StepFunctionsArchiver:
    """Starts the archive wait named after the job: a retry hits ExecutionAlreadyExists (fine)."""

    def __init__(self, sfn: Any, state_machine_arn: str) -> None:
        self.sfn, self.arn = sfn, state_machine_arn

    def start(self, job_id: str, user_id: str, wait_seconds: int) -> None:
        try:
            self.sfn.start_execution(stateMachineArn=self.arn, name=job_id, input=json.dumps(
                {"job_id": job_id, "user_id": user_id, "wait_seconds": int(wait_seconds)}))
        except ClientError as exc:
            if aws.error_code(exc) != "ExecutionAlreadyExists":
                raise
            log.info("archive wait for job %s already started", job_id)


def engine_for(genome: str, cache_dir: Path | None) -> Engine:
    """The annotation engine bound to this worker's reference bundle (GAS_GENOME, GAS_CACHE_DIR)."""
    def run(src: Path, outdir: Path, progress: Callable[[float], None]) -> EngineResult:
        from annotator.engine.annotate import annotate
        return annotate(src, outdir, genome=genome, cache_dir=cache_dir, progress=progress)
    return run


def aws_runner(settings: Settings, worker_id: str, *, queue_url: str, genome: str | None = None,
               cache_dir: Path | None = None, config: RunConfig | None = None,
               engine: Engine | None = None) -> JobRunner:
    """A JobRunner wired to the real services through the shared core's clients."""
    region = settings.region
    return JobRunner(
        settings=settings, worker_id=worker_id,
        store=JobStore(settings), plans=UserStore(settings), files=S3Files(aws.s3(region)),
        queue=SqsQueue(aws.sqs(region), queue_url),
        publisher=SnsPublisher(aws.sns(region), aws.resolve_arn("sns", settings.job_results_topic, settings)),
        archiver=StepFunctionsArchiver(aws.stepfunctions(region),
                                       aws.resolve_arn("states", settings.archive_state_machine, settings)),
        engine=engine or engine_for(genome or settings.genome, cache_dir), config=config)
