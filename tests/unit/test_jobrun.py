"""JobRunner with in-memory fakes: the order of effects and every non-happy path."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from annotator.engine.errors import VcfFormatError
from annotator.jobrun import JobRunner, Outcome, Received, RunConfig
from gas import jobs as J
from gas.jobs import Job, Status
from gas.messages import JobRequest, JobResult
from gas.settings import Settings
from gas.users import Plan

SETTINGS = Settings(archive_delay_s=42)
USER = "alice"


class FakeStore:
    """The JobStore contract on a dict, using the core's pure transition functions."""

    def __init__(self, effects: list) -> None:
        self.jobs: dict[str, Job] = {}
        self.effects = effects
        self.heartbeats: list[float] = []

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def claim(self, job_id, worker_id, now=None, stale_after_s=300):
        job = self.jobs.get(job_id)
        try:
            new = J.claim(job, worker_id, now or J.now_iso(), stale_after_s) if job else None
        except J.InvalidTransition:
            new = None
        if new:
            self.jobs[job_id] = new
            self.effects.append("claim")
        return new

    def heartbeat(self, job_id, worker_id, progress, now=None) -> bool:
        try:
            self.jobs[job_id] = J.heartbeat(self.jobs[job_id], worker_id, progress, now or J.now_iso())
        except J.InvalidTransition:
            return False
        self.heartbeats.append(progress)
        return True

    def complete(self, job_id, worker_id, variants, result_keys, now=None):
        try:
            self.jobs[job_id] = J.complete(self.jobs[job_id], worker_id, variants, result_keys, now or J.now_iso())
        except J.InvalidTransition:
            return None
        self.effects.append("complete")
        return self.jobs[job_id]

    def fail(self, job_id, reason, worker_id=None, now=None):
        job = self.jobs.get(job_id)
        if job is None:
            return None
        try:
            self.jobs[job_id] = J.fail(job, reason, now or J.now_iso(), worker_id)
        except J.InvalidTransition:
            return job if job.status == Status.FAILED else None
        self.effects.append("fail")
        return self.jobs[job_id]

    def release(self, job_id, worker_id) -> bool:
        job = self.jobs[job_id]
        if job.status != Status.RUNNING or job.worker_id != worker_id:
            return False
        self.jobs[job_id] = job.model_copy(update={"worker_id": None, "heartbeat_at": None})
        self.effects.append("release")
        return True


class FakeFiles:
    def __init__(self, effects: list) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.effects = effects

    def download(self, bucket, key, dest: Path) -> None:
        dest.write_bytes(self.objects[(bucket, key)])
        self.effects.append("download")

    def upload(self, bucket, key, src: Path) -> None:
        self.objects[(bucket, key)] = src.read_bytes()
        self.effects.append(f"upload {key.rsplit('/', 1)[-1]}")


class FakeQueue:
    def __init__(self, effects: list) -> None:
        self.effects = effects
        self.visibility: list[int] = []

    def delete(self, receipt) -> None:
        self.effects.append("delete")

    def set_visibility(self, receipt, seconds) -> None:
        self.visibility.append(seconds)


class FakePublisher:
    def __init__(self, effects: list) -> None:
        self.results: list[JobResult] = []
        self.effects = effects

    def publish(self, result: JobResult) -> None:
        self.results.append(result)
        self.effects.append(f"publish {result.status}")


class FakeArchiver:
    def __init__(self, effects: list) -> None:
        self.started: list[tuple] = []
        self.effects = effects

    def start(self, job_id, user_id, wait_seconds) -> None:
        self.started.append((job_id, user_id, wait_seconds))
        self.effects.append("archive")


class FakePlans:
    def __init__(self) -> None:
        self.plans = {USER: Plan.FREE, "bob": Plan.PREMIUM}

    def plan(self, user_id):
        return self.plans.get(user_id)


@dataclass
class FakeResult:
    stats: dict
    outs: list[Path]

    def paths(self) -> list[Path]:
        return self.outs


def good_engine(src: Path, outdir: Path, progress) -> FakeResult:
    outdir.mkdir()
    progress(0.5)
    progress(1.0)
    outs = []
    for name in ("x.annot.vcf.gz", "x.parquet", "x.log"):
        (outdir / name).write_text(src.read_text())
        outs.append(outdir / name)
    return FakeResult({"records": 7}, outs)


def bad_engine(src: Path, outdir: Path, progress) -> FakeResult:
    raise VcfFormatError("expected 8 columns, found 3", line_no=5)


@pytest.fixture
def env(tmp_path):
    effects: list[str] = []
    parts = {"store": FakeStore(effects), "plans": FakePlans(), "files": FakeFiles(effects),
             "queue": FakeQueue(effects), "publisher": FakePublisher(effects), "archiver": FakeArchiver(effects)}

    def runner(engine=good_engine, **cfg) -> JobRunner:
        config = RunConfig(work_dir=tmp_path, progress_every_s=0, **cfg)
        return JobRunner(settings=SETTINGS, worker_id="w1", engine=engine, config=config, **parts)

    def submit(user: str = USER) -> tuple[Job, Received]:
        job_id = J.new_job_id()
        key = f"{user}/{job_id}/x.vcf"
        job = J.new_job(user_id=user, input_file="x.vcf", input_key=key, input_size=10, job_id=job_id)
        parts["store"].jobs[job.job_id] = job
        parts["files"].objects[(SETTINGS.inputs_bucket, key)] = b"##fileformat=VCFv4.2\n"
        req = JobRequest(job_id=job.job_id, user_id=user, input_bucket=SETTINGS.inputs_bucket,
                         input_key=key, genome="GRCh38")
        return job, Received(body=req.to_json(), receipt="r1")

    class Env:
        pass
    e = Env()
    e.__dict__.update(parts, effects=effects, runner=runner, submit=submit)
    return e


def test_happy_path_deletes_the_message_last(env):
    job, msg = env.submit()
    assert env.runner().process(msg) == Outcome.COMPLETED
    assert env.effects == ["claim", "download", "upload x.annot.vcf.gz", "upload x.parquet", "upload x.log",
                           "complete", "publish COMPLETED", "archive", "delete"]
    done = env.store.jobs[job.job_id]
    assert done.status == Status.COMPLETED and done.variants == 7
    assert done.result_keys == [f"{USER}/{job.job_id}/{n}" for n in ("x.annot.vcf.gz", "x.parquet", "x.log")]
    assert env.publisher.results[0].variants == 7 and env.publisher.results[0].results_state == "available"
    assert env.archiver.started == [(job.job_id, USER, 42)]
    assert env.store.heartbeats == [0.5, 1.0]


def test_premium_user_is_not_archived(env):
    _, msg = env.submit("bob")
    assert env.runner().process(msg) == Outcome.COMPLETED
    assert env.archiver.started == [] and env.effects[-1] == "delete"


def test_duplicate_delivery_of_a_finished_job_is_announced_again_without_work(env):
    # a worker may die between completing a job and announcing it: the redelivery must announce it
    # (notify sends once per job, the archive execution is named by job id), but never re-run it
    job, msg = env.submit()
    env.runner().process(msg)
    env.effects.clear()
    assert env.runner().process(msg) == Outcome.DUPLICATE
    assert "claim" not in env.effects and "download" not in env.effects and env.effects[-1] == "delete"
    assert len(env.publisher.results) == 2 and env.publisher.results[0] == env.publisher.results[1]
    assert env.archiver.started == [(job.job_id, USER, SETTINGS.archive_delay_s)] * 2


def test_bad_vcf_fails_the_job_keeps_the_input_and_publishes(env):
    job, msg = env.submit()
    assert env.runner(engine=bad_engine).process(msg) == Outcome.FAILED
    failed = env.store.jobs[job.job_id]
    assert failed.status == Status.FAILED and failed.error == "line 5: expected 8 columns, found 3"
    assert (SETTINGS.inputs_bucket, job.input_key) in env.files.objects
    assert env.effects == ["claim", "download", "fail", "publish FAILED", "delete"]
    assert env.publisher.results[0].error == failed.error


@pytest.mark.parametrize("body,names_job", [
    ("not json", False),
    (json.dumps({"version": 2, "job_id": "X"}), False),
    ("NAMED", True),   # a valid-looking job id but a missing field
])
def test_poison_message_is_left_for_the_dlq(env, body, names_job):
    job, _ = env.submit()
    if body == "NAMED":
        body = json.dumps({"version": 1, "job_id": job.job_id, "user_id": USER})
    assert env.runner().process(Received(body=body, receipt="r1")) == Outcome.POISON
    assert "delete" not in env.effects and env.queue.visibility == []
    status = env.store.jobs[job.job_id].status
    assert status == (Status.FAILED if names_job else Status.PENDING)
    if names_job:
        assert "invalid job request" in env.store.jobs[job.job_id].error
        assert env.publisher.results[0].status == "FAILED"


def test_sns_envelope_is_unwrapped(env):
    _, msg = env.submit()
    envelope = json.dumps({"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:x:1:t",
                           "Message": msg.body})
    assert env.runner().process(Received(body=envelope, receipt="r1")) == Outcome.COMPLETED


def test_live_claim_elsewhere_leaves_the_message_alone(env):
    job, msg = env.submit()
    env.store.jobs[job.job_id] = J.claim(job, "w2", J.now_iso(), 300)
    assert env.runner().process(msg) == Outcome.BUSY
    assert env.effects == [] and env.queue.visibility == []


def test_stale_claim_is_taken_over_and_completed_once(env):
    job, msg = env.submit()
    env.store.jobs[job.job_id] = J.claim(job, "dead", "2020-01-01T00:00:00.000Z", 300)
    assert env.runner().process(msg) == Outcome.COMPLETED
    assert env.store.jobs[job.job_id].attempts == 2


def test_claim_lost_mid_job_stops_without_completing(env):
    job, msg = env.submit()

    def engine(src, outdir, progress):
        # another worker takes the job over (our heartbeat went stale)
        env.store.jobs[job.job_id] = env.store.jobs[job.job_id].model_copy(update={"worker_id": "w2"})
        progress(0.3)
        raise AssertionError("progress should have raised ClaimLost")

    assert env.runner(engine=engine).process(msg) == Outcome.LOST
    assert "delete" not in env.effects and "complete" not in env.effects
    assert env.publisher.results == []


def test_request_not_matching_the_job_is_poison(env):
    job, _ = env.submit()
    other = JobRequest(job_id=job.job_id, user_id="mallory", input_bucket=SETTINGS.inputs_bucket,
                       input_key=f"mallory/{job.job_id}/x.vcf", genome="GRCh38")
    assert env.runner().process(Received(body=other.to_json(), receipt="r1")) == Outcome.POISON
    assert env.store.jobs[job.job_id].status == Status.FAILED
    assert "delete" not in env.effects


def test_shutdown_past_grace_releases_the_job_and_the_message(env):
    job, msg = env.submit()
    runner = env.runner(heartbeat_every_s=0.05)

    def engine(src, outdir, progress):
        runner.shutdown(grace_s=0)
        time.sleep(0.2)
        progress(0.1)
        raise AssertionError("progress should have stopped the engine")

    runner.engine = engine
    assert runner.process(msg) == Outcome.RELEASED
    released = env.store.jobs[job.job_id]
    assert released.status == Status.RUNNING and released.worker_id is None and released.heartbeat_at is None
    assert env.queue.visibility[-1] == 0 and "delete" not in env.effects
    # the next delivery re-claims it at once and completes it
    runner2 = env.runner()
    assert runner2.process(msg) == Outcome.COMPLETED


def test_shutdown_within_grace_finishes_the_job(env):
    _, msg = env.submit()
    runner = env.runner()
    runner.shutdown(grace_s=60)
    assert runner.process(msg) == Outcome.COMPLETED


def test_heartbeat_thread_extends_visibility(env):
    _, msg = env.submit()

    def slow(src, outdir, progress):
        time.sleep(0.35)
        return good_engine(src, outdir, progress)

    assert env.runner(engine=slow, heartbeat_every_s=0.1, visibility_s=123).process(msg) == Outcome.COMPLETED
    assert env.queue.visibility and set(env.queue.visibility) == {123}


def test_unexpected_error_releases_and_retries_soon(env):
    job, msg = env.submit()

    def broken(src, outdir, progress):
        raise OSError("disk full")

    assert env.runner(engine=broken, retry_delay_s=7).process(msg) == Outcome.RETRY
    assert env.store.jobs[job.job_id].worker_id is None and env.queue.visibility == [7]
    assert "delete" not in env.effects


def test_unexpected_error_on_last_receipt_fails_the_job(env):
    job, msg = env.submit()
    msg.receive_count = 3

    def broken(src, outdir, progress):
        raise OSError("disk full")

    assert env.runner(engine=broken, max_receive_count=3).process(msg) == Outcome.RETRY
    assert env.store.jobs[job.job_id].status == Status.FAILED
    assert env.publisher.results[0].status == "FAILED"


def test_error_at_the_claim_retries_the_message_instead_of_raising(env):
    # a DynamoDB error past botocore's retries, outside the job run, must not end the worker loop
    job, msg = env.submit()

    def claim(*a, **k):
        raise RuntimeError("throttled")
    env.store.claim = claim
    assert env.runner(retry_delay_s=9).process(msg) == Outcome.RETRY
    assert env.queue.visibility == [9] and "delete" not in env.effects
    assert env.store.jobs[job.job_id].status == Status.PENDING


def test_last_delivery_after_a_dead_worker_gives_up_with_the_reason(env):
    # the previous holder died without releasing (kill -9, OOM): on the queue's last delivery the job
    # is FAILED and announced, not run once more (dying again would leave it RUNNING for ever)
    job, msg = env.submit()
    env.store.claim(job.job_id, "dead", now="2020-01-01T00:00:00.000Z")
    msg.receive_count = 3
    assert env.runner(max_receive_count=3).process(msg) == Outcome.FAILED
    failed = env.store.jobs[job.job_id]
    assert failed.status == Status.FAILED and failed.error.startswith("the annotation was interrupted 1 time(s)")
    assert env.effects == ["claim", "claim", "fail", "publish FAILED", "delete"]


def test_last_delivery_after_a_released_claim_still_runs(env):
    job, msg = env.submit()
    env.store.claim(job.job_id, "w0", now="2020-01-01T00:00:00.000Z")
    env.store.release(job.job_id, "w0")           # given back at shutdown: not a death
    msg.receive_count = 3
    assert env.runner(max_receive_count=3).process(msg) == Outcome.COMPLETED


def test_missing_input_fails_the_job(env):
    job, msg = env.submit()
    del env.files.objects[(SETTINGS.inputs_bucket, job.input_key)]
    from annotator.jobrun import InputMissing

    def download(bucket, key, dest):
        raise InputMissing("the input file x.vcf is no longer available")
    env.files.download = download
    assert env.runner().process(msg) == Outcome.FAILED
    assert env.effects[-1] == "delete"


def test_sigterm_stops_the_loop_after_the_current_message(env):
    import os
    import signal

    from annotator.worker import Worker, install_signals

    _, msg = env.submit()

    class FakeSqs:
        calls = 0

        def receive_message(self, **kw):
            FakeSqs.calls += 1
            if FakeSqs.calls == 1:
                return {"Messages": [{"Body": msg.body, "ReceiptHandle": "r1", "MessageId": "m1"}]}
            raise AssertionError("polled again after SIGTERM")

    def engine(src, outdir, progress):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the job is being worked on
        return good_engine(src, outdir, progress)

    w = Worker(env.runner(engine=engine), FakeSqs(), "url")
    previous = install_signals(w)
    try:
        counts = w.run()
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    assert counts == {"completed": 1} and FakeSqs.calls == 1


def test_message_received_after_sigterm_is_handed_back(env):
    from annotator.worker import Worker

    _, msg = env.submit()
    runner = env.runner()

    class FakeSqs:
        def receive_message(self, **kw):
            runner.shutdown()  # the signal lands during the long poll
            return {"Messages": [{"Body": msg.body, "ReceiptHandle": "r1"}]}

    assert Worker(runner, FakeSqs(), "url").run() == {}
    assert env.queue.visibility == [0] and env.effects == []


def test_job_over_the_time_limit_fails_with_the_reason_and_keeps_the_input(env):
    job, msg = env.submit()
    calls = []

    def endless(src, outdir, progress):     # e.g. a gzip of nothing but blank lines
        while True:
            calls.append(1)
            progress(0.1)
            time.sleep(0.01)

    assert env.runner(engine=endless, time_limit_s=0.2).process(msg) == Outcome.FAILED
    failed = env.store.jobs[job.job_id]
    assert failed.status == Status.FAILED and "0.2-second limit for one job" in failed.error
    assert "input file is kept" in failed.error and 5 < len(calls) < 100
    assert (SETTINGS.inputs_bucket, job.input_key) in env.files.objects
    assert env.effects[-3:] == ["fail", "publish FAILED", "delete"]
    assert env.publisher.results[0].error == failed.error


def test_time_limit_from_the_environment(monkeypatch):
    from annotator.jobrun import DEFAULT_TIME_LIMIT_S
    from annotator.worker import timing_config
    assert timing_config(300, environ={}).time_limit_s == DEFAULT_TIME_LIMIT_S == 6 * 3600
    assert timing_config(300, environ={"GAS_JOB_TIME_LIMIT_S": "90"}).time_limit_s == 90
