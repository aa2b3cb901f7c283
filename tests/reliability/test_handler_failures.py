"""Exceptions inside the consumers: partial-batch failure, retries, then the DLQ; where the design
records a reason (docs/worker.md), the job is FAILED with it and its owner is told.

- Lambda handlers (functions/*/app.py): a record that raises is reported in `batchItemFailures`
  and only it is retried; through the embedded stack's pollers it is redelivered and, after the
  queue's maxReceiveCount (5), moved to the DLQ by SQS. The others of the batch are deleted once.
  These functions act on finished jobs: the job keeps its status (the email or archive is what
  is missing) and the message waits in the DLQ for an operator (docs/notify.md, lifecycle.md).
- The worker: an exception in the job run releases the claim and brings the message back; on the
  last delivery the job is FAILED "internal error after 5 attempts (...)", the FAILED result is
  published (one email with the reason) and the message goes on to the DLQ.
- A worker that *dies* on every delivery (kill -9, out of memory) cannot record anything: on the
  last delivery the next worker gives up on the job instead of running it once more
  (annotator.jobrun `_give_up`), so it is FAILED with the reason, never left RUNNING for ever.
"""
from __future__ import annotations

import dataclasses
import json
import time

import pytest

from gas import aws
from gas import jobs as J
from gas.jobs import ResultsState, Status
from gas.messages import JobRequest, JobResult, parse_record
from gas.store import JobStore
from gas.users import Plan, UserStore
from tests.reliability.harness import (
    GIVE_UP,
    handler_event,
    lambda_context,
    load_function,
    record,
    wait_until,
)

pytest_plugins = ["tests.integration.aws_fixtures"]

VCF = ("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
       "1\t160\t.\tA\tG\t50\tPASS\tDP=5\n")


def _completed(store: JobStore, user_id: str, s3=None, bucket: str | None = None) -> J.Job:
    job = J.new_job(user_id=user_id, input_file="f.vcf", input_key=f"{user_id}/x/f.vcf", input_size=1)
    keys = []
    if s3 is not None:
        from gas.storage import result_key
        keys = [result_key(user_id, job.job_id, n) for n in ("f.parquet", "f.summary.json")]
        for k in keys:
            s3.put_object(Bucket=bucket, Key=k, Body=b"{}")
    assert store.create(job) and store.claim(job.job_id, "w") and store.complete(job.job_id, "w", 1, keys)
    return store.get(job.job_id)


def _depth(sqs, url: str) -> int:
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


# ----------------------------------------------------------------------------- one batch

def test_notify_batch_fails_only_the_bad_records(gas_aws, monkeypatch):
    s = gas_aws.settings
    aws.client("sesv2", region=s.region).create_email_identity(EmailIdentity=s.sender_email)
    store = JobStore(s)
    user = UserStore(s).add("nell", "nell@example.org", Plan.PREMIUM)
    good = _completed(store, user.user_id)
    for body in (JobResult(job_id=good.job_id, user_id=user.user_id, status="COMPLETED", variants=1).to_json(),
                 JobResult(job_id=J.new_job_id(), user_id=user.user_id, status="COMPLETED", variants=1).to_json(),
                 '{"version": 1, "job_id": "<script>", "status": "COMPLETED"}'):
        gas_aws.sns.publish(TopicArn=gas_aws.topics["job_results_topic"], Message=body)
    msgs = gas_aws.receive("results_queue", delete=False)
    assert len(msgs) == 3
    out = load_function("notify")(handler_event(msgs, gas_aws.sqs, gas_aws.queues["results_queue"]), lambda_context())
    failed = {f["itemIdentifier"] for f in out["batchItemFailures"]}
    assert failed == {m["MessageId"] for m in msgs[1:]}
    from tests.reliability.harness import sent_mail
    assert len(sent_mail(s.region)) == 1


# ----------------------------------------------------------------------------- through the pollers

@pytest.fixture
def local_stack(monkeypatch):
    """The embedded stack in this process: template.yaml provisioned into moto, the four functions
    fed by pollers that make a failed record visible again at once (failed_visibility_s=0)."""
    from gas.local.stack import start_stack
    stack = start_stack(poll_wait_s=1, failed_visibility_s=0)
    try:
        yield stack
    finally:
        stack.stop()
        aws.reset_clients()


def test_failing_records_are_retried_then_dead_lettered_and_the_rest_goes_through(local_stack, monkeypatch):
    from gas.settings import Settings
    s = Settings.from_env()
    sqs, sns = aws.sqs(s.region), aws.sns(s.region)
    topic = lambda name: aws.resolve_arn("sns", name, s)
    url = lambda name: sqs.get_queue_url(QueueName=name)["QueueUrl"]
    store = JobStore(s)
    users = UserStore(s)
    ann = users.add("ann", "ann@example.org", Plan.PREMIUM)
    fay = users.add("fay", "fay@example.org", Plan.FREE)

    # notify: one job whose email cannot be sent (SES keeps failing), one that is fine, one poison
    broken, fine = _completed(store, ann.user_id), _completed(store, ann.user_id)
    import gas.notify as N
    real_send = N.send

    def send(email, to, settings, ses=None):
        if broken.job_id in email.text:
            raise RuntimeError("injected: SES unavailable")
        return real_send(email, to, settings, ses)
    monkeypatch.setattr(N, "send", send)
    for job in (broken, fine):
        sns.publish(TopicArn=topic(s.job_results_topic), Message=JobResult(
            job_id=job.job_id, user_id=ann.user_id, status="COMPLETED", variants=1).to_json())
    sns.publish(TopicArn=topic(s.job_results_topic), Message="not json at all")

    # archive: one job whose Glacier move keeps failing, one that archives
    s3 = aws.s3(s.region)
    stuck = _completed(store, fay.user_id, s3, s.results_bucket)
    moves = _completed(store, fay.user_id, s3, s.results_bucket)
    import gas.lifecycle as L
    real_move = L.storage.move_to_glacier

    def move(bucket, key, s3=None):
        if stuck.job_id in key:
            raise RuntimeError("injected: S3 CopyObject keeps failing")
        return real_move(bucket, key, s3=s3)
    monkeypatch.setattr(L.storage, "move_to_glacier", move)
    from gas.messages import ArchiveRequest
    for job in (stuck, moves):
        sns.publish(TopicArn=topic(s.archive_topic),
                    Message=ArchiveRequest(job_id=job.job_id, user_id=fay.user_id).to_json())

    t0 = time.monotonic()
    ok = wait_until(lambda: _depth(sqs, url(s.results_queue + "-dlq")) == 2
                    and _depth(sqs, url(s.archive_queue + "-dlq")) == 1, 60, poll_s=0.5, check=False)
    took = time.monotonic() - t0
    dlq_results = _depth(sqs, url(s.results_queue + "-dlq"))
    dlq_archive = _depth(sqs, url(s.archive_queue + "-dlq"))
    from tests.reliability.harness import sent_mail
    record("handler_failures_pollers", bad_records=3, good_records=2, dlq={"results": dlq_results,
           "archive": dlq_archive}, emails=len(sent_mail(s.region)), seconds_to_dlq=round(took, 1))
    assert ok, (dlq_results, dlq_archive)
    assert _depth(sqs, url(s.results_queue)) == 0 and _depth(sqs, url(s.archive_queue)) == 0
    dead = sqs.receive_message(QueueUrl=url(s.results_queue + "-dlq"), MaxNumberOfMessages=10,
                               MessageSystemAttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert all(int(m["Attributes"]["ApproximateReceiveCount"]) >= 5 for m in dead)
    assert len(sent_mail(s.region)) == 1                               # the fine job, once
    from gas.notify import read_job_item
    assert "notified_at" not in read_job_item(store, broken.job_id)    # the claim was undone each time
    assert store.get(stuck.job_id).results_state == ResultsState.AVAILABLE    # untouched, still downloadable
    assert store.get(moves.job_id).results_state == ResultsState.ARCHIVED


# ----------------------------------------------------------------------------- the worker

@pytest.fixture
def wenv(gas_aws, tiny, monkeypatch):
    monkeypatch.setenv("GAS_CACHE_DIR", str(tiny["cache"]))
    gas_aws.settings = dataclasses.replace(gas_aws.settings, genome=str(tiny["bundle"]))
    gas_aws.sqs.set_queue_attributes(QueueUrl=gas_aws.queues["requests_queue"],
                                     Attributes={"VisibilityTimeout": "1"})
    return gas_aws


def _submit(env) -> J.Job:
    s = env.settings
    user = UserStore(s).add(f"u{J.new_job_id()[-6:]}", "w@example.org", Plan.PREMIUM)
    job_id = J.new_job_id()
    key = f"{user.user_id}/{job_id}/f.vcf"
    env.s3.put_object(Bucket=s.inputs_bucket, Key=key, Body=VCF.encode())
    job = J.new_job(user_id=user.user_id, input_file="f.vcf", input_key=key, input_size=len(VCF), job_id=job_id)
    assert JobStore(s).create(job)
    env.sns.publish(TopicArn=env.topics["job_requests_topic"], Message=JobRequest(
        job_id=job_id, user_id=user.user_id, input_bucket=s.inputs_bucket, input_key=key, genome="tiny").to_json())
    return job


def _worker(env):
    from annotator import worker
    from annotator.jobrun import RunConfig
    return worker.build(env.settings, "w-rel", config=RunConfig(heartbeat_every_s=5, retry_delay_s=0,
                                                                 max_receive_count=5))


def test_worker_exception_every_time_fails_the_job_with_the_reason_then_dlq(wenv):
    job = _submit(wenv)
    w = _worker(wenv)

    def broken_engine(src, out, progress):
        raise RuntimeError("injected: engine bug")
    w.runner.engine = broken_engine
    counts = w.run(once=True)
    failed = JobStore(wenv.settings).get(job.job_id)
    assert counts == {"retry": 5}
    assert failed.status == Status.FAILED and failed.attempts == 5
    assert failed.error == "internal error after 5 attempts (RuntimeError)"
    [result] = [parse_record(m, JobResult) for m in wenv.receive("results_queue")]
    assert (result.status, result.error) == ("FAILED", failed.error)
    time.sleep(1.2)                                      # its visibility runs out; the next receive redrives it
    assert wenv.sqs.receive_message(QueueUrl=wenv.queues["requests_queue"], WaitTimeSeconds=0).get("Messages", []) == []
    assert _depth(wenv.sqs, wenv.dlqs["requests_queue"]) == 1
    wenv.s3.head_object(Bucket=wenv.settings.inputs_bucket, Key=job.input_key)     # input kept
    record("worker_exception", deliveries=5, outcome=failed.error, dlq=1)


def test_worker_that_died_on_every_delivery_is_given_up_on_the_last(wenv):
    job = _submit(wenv)
    store = JobStore(wenv.settings)
    url = wenv.queues["requests_queue"]
    for i in range(4):         # four deliveries, each claimed by a worker that then died (kill -9)
        assert len(wenv.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])) == 1
        assert store.claim(job.job_id, f"dead-{i}", now=f"2020-01-01T00:00:0{i}.000Z", stale_after_s=0.5)
        time.sleep(1.1)
    counts = _worker(wenv).run(once=True)                 # delivery 5 of 5
    failed = store.get(job.job_id)
    assert counts == {"failed": 1}
    assert failed.status == Status.FAILED and failed.error.startswith(GIVE_UP), failed.error
    assert "giving up after 5 deliveries" in failed.error
    [result] = [parse_record(m, JobResult) for m in wenv.receive("results_queue")]
    assert result.status == "FAILED"
    time.sleep(1.2)
    assert _depth(wenv.sqs, url) == 0 and _depth(wenv.sqs, wenv.dlqs["requests_queue"]) == 0   # deleted


def test_worker_dies_but_not_on_the_last_delivery_job_completes(wenv):
    job = _submit(wenv)
    store = JobStore(wenv.settings)
    assert len(wenv.sqs.receive_message(QueueUrl=wenv.queues["requests_queue"], WaitTimeSeconds=1)["Messages"]) == 1
    assert store.claim(job.job_id, "dead", now="2020-01-01T00:00:00.000Z")
    time.sleep(1.1)
    assert _worker(wenv).run(once=True) == {"completed": 1}
    done = store.get(job.job_id)
    assert done.status == Status.COMPLETED and done.attempts == 2
    json.dumps(done.model_dump(mode="json"))
