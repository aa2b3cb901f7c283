"""S3 and DynamoDB errors and throttling, injected under the store, storage, lifecycle and the
worker's job run: retried (gas.aws: botocore standard mode, 5 attempts) or failed cleanly, never
a lost or doubled job.

Faults are injected at botocore's `before-send` hook against the moto *server* (HTTP): an
injected attempt never leaves the process and botocore sees a real HTTP error response, so its
retry logic runs exactly as against AWS, and every attempt is counted. A `Stubber` cannot do this
(it answers before the retry handler), nor can in-process `mock_aws`: botocore emits `before-send`
to every handler, so moto's own executes the request (the write happens) even when ours answers. The backoff sleeps are set to zero (`no_backoff`) to keep the tests
fast; the number of attempts is what is being checked.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from gas import aws
from gas import jobs as J
from gas import storage as S
from gas.jobs import ResultsState, Status
from gas.messages import (
    ArchiveRequest,
    JobRequest,
    JobResult,
    ThawRequest,
    parse_record,
)
from gas.store import JobStore
from gas.users import Plan, UserStore

pytest_plugins = ["tests.integration.aws_fixtures"]

VCF = ("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
       "1\t160\t.\tA\tG\t50\tPASS\tDP=5\n1\t250\t.\tC\tT\t50\tPASS\tDP=5\n")
ATTEMPTS = 6          # gas.aws.client_config: standard mode, max_attempts 5 = five *retries* (botocore)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: object):
        yield self.body


def error_response(client, status: int, code: str, url: str) -> AWSResponse:
    protocol = client.meta.service_model.protocol
    if protocol in ("json",):
        prefix = client.meta.service_model.metadata.get("targetPrefix", "")
        body = json.dumps({"__type": f"{prefix}#{code}", "message": f"injected {code}"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": f"{code};Sender"}
    elif protocol == "query":
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>injected</Message>"
                f"</Error><RequestId>x</RequestId></ErrorResponse>").encode()
        headers = {"Content-Type": "text/xml"}
    else:  # rest-xml (S3)
        body = f"<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
        headers = {"Content-Type": "application/xml"}
    return AWSResponse(url, status, headers, _Raw(body))


class Inject:
    """Answer the first `times` matching requests of `operation` with an HTTP error; count attempts."""

    def __init__(self, client, operation: str, status: int, code: str, times: int,
                 when: Callable[[bytes], bool] | None = None) -> None:
        self.client, self.status, self.code, self.left, self.when = client, status, code, times, when
        self.event = f"before-send.{client.meta.service_model.service_id.hyphenize()}.{operation}"
        self.uid = f"rel-inject-{id(self)}"
        self.attempts = 0      # matching requests seen (injected or passed through)
        self.injected = 0

    def _handler(self, request, **_: object):
        body = request.body or b""
        body = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else b"")
        if self.when is not None and not self.when(body):
            return None
        self.attempts += 1
        if self.left == 0:
            return None
        self.left -= 1
        self.injected += 1
        return error_response(self.client, self.status, self.code, request.url)

    def __enter__(self) -> Inject:
        self.client.meta.events.register_first(self.event, self._handler, unique_id=self.uid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.meta.events.unregister(self.event, unique_id=self.uid)


@pytest.fixture
def no_backoff(monkeypatch):
    from botocore.retries import standard
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)


@pytest.fixture
def fresh_clients():
    aws.reset_clients()        # a fresh retry quota per test (standard mode's token bucket)
    yield
    aws.reset_clients()


@pytest.fixture
def env(fresh_clients, gas_moto_server, tiny, no_backoff, monkeypatch):
    monkeypatch.setenv("GAS_CACHE_DIR", str(tiny["cache"]))
    gas_moto_server.settings = dataclasses.replace(gas_moto_server.settings, genome=str(tiny["bundle"]))
    return gas_moto_server


def ddb():
    return aws.dynamodb()


def s3():
    return aws.s3()


def new_job(env, user_id: str = "alice") -> J.Job:
    job_id = J.new_job_id()
    job = J.new_job(user_id=user_id, input_file="f.vcf", input_key=f"{user_id}/{job_id}/f.vcf",
                    input_size=len(VCF), job_id=job_id)
    env.s3.put_object(Bucket=env.settings.inputs_bucket, Key=job.input_key, Body=VCF.encode())
    return job


# ----------------------------------------------------------------------------- the store

@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_store_retries_dynamodb_throttling_then_fails_cleanly(env, code):
    from tests.reliability.harness import record
    store = JobStore(env.settings)
    job = new_job(env)
    with Inject(ddb(), "PutItem", 400, code, times=2) as f:
        assert store.create(job)
    assert (f.injected, f.attempts) == (2, 3)
    with Inject(ddb(), "UpdateItem", 400, code, times=ATTEMPTS - 1) as f:
        assert store.claim(job.job_id, "w1").attempts == 1           # succeeded on the last attempt
    assert f.attempts == ATTEMPTS
    with Inject(ddb(), "UpdateItem", 400, code, times=ATTEMPTS) as f, pytest.raises(ClientError) as err:
        store.complete(job.job_id, "w1", 2, [])
    assert aws.error_code(err.value) == code and f.attempts == ATTEMPTS   # gave up after exactly 6
    assert store.get(job.job_id).status == Status.RUNNING              # nothing half-written
    assert store.complete(job.job_id, "w1", 2, []).status == Status.COMPLETED
    with Inject(ddb(), "UpdateItem", 400, code, times=0) as f:         # a domain answer: never retried
        assert store.claim(job.job_id, "w2") is None
    assert f.attempts == 1
    record("store_throttling", code=code, create_attempts=3, claim_attempts=ATTEMPTS,
           complete_attempts_then_error=ATTEMPTS, conditional_failure_attempts=1)


def test_store_retries_dynamodb_internal_errors(env):
    store = JobStore(env.settings)
    job = new_job(env)
    assert store.create(job)
    with Inject(ddb(), "GetItem", 500, "InternalServerError", times=3) as f:
        assert store.get(job.job_id).job_id == job.job_id
    assert f.attempts == 4
    with Inject(ddb(), "Query", 400, "ThrottlingException", times=2) as f:
        assert [j.job_id for j in store.iter_for_user("alice")] == [job.job_id]
    assert f.attempts == 3


# ----------------------------------------------------------------------------- storage and lifecycle

def test_storage_retries_s3_slowdown_and_internal_errors(env):
    s = env.settings
    job = new_job(env)
    with Inject(s3(), "HeadObject", 503, "SlowDown", times=2) as h, \
            Inject(s3(), "GetObject", 500, "InternalError", times=2) as g:
        head = S.head_input(job.input_key, settings=s)
    assert head.size == len(VCF) and head.looks_like_vcf
    assert (h.attempts, g.attempts) == (3, 3)
    with Inject(s3(), "HeadObject", 503, "SlowDown", times=ATTEMPTS), pytest.raises(ClientError):
        S.head_input(job.input_key, settings=s)                        # past the retries: a clear error


def test_lifecycle_survives_s3_errors_and_falls_back_from_expedited(env):
    from gas import lifecycle as L
    from tests.reliability.harness import record
    s = env.settings
    store = JobStore(s)
    user = UserStore(s).add("freda", "freda@example.org", Plan.FREE)
    job = J.new_job(user_id=user.user_id, input_file="f.vcf", input_key=f"{user.user_id}/x/f.vcf", input_size=1)
    keys = [S.result_key(user.user_id, job.job_id, n) for n in ("f.parquet", "f.summary.json")]
    for k in keys:
        env.s3.put_object(Bucket=s.results_bucket, Key=k, Body=b"x")
    assert store.create(job) and store.claim(job.job_id, "w") and store.complete(job.job_id, "w", 1, keys)

    with Inject(s3(), "CopyObject", 503, "SlowDown", times=3) as c:
        assert L.archive_job(ArchiveRequest(job_id=job.job_id, user_id=user.user_id), s) == ResultsState.ARCHIVED
    assert c.attempts == len(keys) + 3
    assert {S.storage_class(s.results_bucket, k) for k in keys} == {"GLACIER"}

    UserStore(s).set_plan(user.user_id, Plan.PREMIUM)
    expedited = lambda body: b"<Tier>Expedited</Tier>" in body
    with Inject(s3(), "RestoreObject", 503, "GlacierExpeditedRetrievalNotAvailable", times=100, when=expedited) as e:
        assert L.thaw_job(ThawRequest(job_id=job.job_id, user_id=user.user_id), s) == ResultsState.RESTORING
    # botocore retries a 503 like any other before our fallback sees it: 5 Expedited tries per object
    assert e.attempts == ATTEMPTS * len(keys)
    assert store.get(job.job_id).restore_tier == "Standard"
    record("lifecycle_s3_faults", archive_copy_attempts=c.attempts, objects=len(keys),
           expedited_attempts_per_object=e.attempts // len(keys), tier_used="Standard")


# ----------------------------------------------------------------------------- the worker's job run

def _submit(env, plan: Plan = Plan.PREMIUM) -> J.Job:
    s = env.settings
    user = UserStore(s).add(f"u{J.new_job_id()[-6:]}", "u@example.org", plan)
    job = new_job(env, user.user_id)
    assert JobStore(s).create(job)
    env.sns.publish(TopicArn=env.topics["job_requests_topic"], Message=JobRequest(
        job_id=job.job_id, user_id=user.user_id, input_bucket=s.inputs_bucket, input_key=job.input_key,
        genome="tiny").to_json())
    return job


def _run_worker(env) -> dict[str, int]:
    from annotator import worker
    from annotator.jobrun import RunConfig
    w = worker.build(env.settings, "w-faults", config=RunConfig(heartbeat_every_s=5, retry_delay_s=0,
                                                                 max_receive_count=5))
    return w.run(once=True)


def _results(env) -> list[JobResult]:
    return [parse_record(m, JobResult) for m in env.receive("results_queue")]


def _result_objects(env, job: J.Job) -> list[str]:
    out = env.s3.list_objects_v2(Bucket=env.settings.results_bucket, Prefix=f"{job.user_id}/{job.job_id}/")
    return [o["Key"] for o in out.get("Contents", [])]


def test_worker_job_completes_once_through_transient_faults_everywhere(env):
    from tests.reliability.harness import record
    job = _submit(env)
    with Inject(ddb(), "UpdateItem", 400, "ProvisionedThroughputExceededException", times=3) as u, \
            Inject(s3(), "GetObject", 500, "InternalError", times=2) as g, \
            Inject(s3(), "PutObject", 503, "SlowDown", times=3) as p, \
            Inject(aws.sns(), "Publish", 400, "Throttling", times=2) as n, \
            Inject(aws.sqs(), "DeleteMessage", 500, "InternalError", times=2) as d:
        counts = _run_worker(env)
    done = JobStore(env.settings).get(job.job_id)
    assert counts == {"completed": 1}
    assert done.status == Status.COMPLETED and done.attempts == 1 and done.variants == 2
    assert sorted(_result_objects(env, job)) == sorted(done.result_keys) and len(done.result_keys) == 5
    assert [r.status for r in _results(env)] == ["COMPLETED"]
    assert env.receive("requests_queue") == []
    faults = {"UpdateItem": u.injected, "GetObject": g.injected, "PutObject": p.injected, "Publish": n.injected,
              "DeleteMessage": d.injected}
    assert all(faults.values()), faults
    record("worker_transient_faults", jobs=1, faults=sum(faults.values()), by_call=faults, reruns=0, lost=0,
           duplicates=0)


def test_worker_claim_throttled_past_retries_retries_the_message_not_the_process(env):
    """Regression: an error at the claim (outside the job run) used to escape `JobRunner.process`
    and end the worker process; now the message comes back after retry_delay_s."""
    job = _submit(env)
    claim = lambda body: b"if_not_exists(attempts" in body
    with Inject(ddb(), "UpdateItem", 400, "ThrottlingException", times=ATTEMPTS, when=claim) as f:
        counts = _run_worker(env)
    assert f.injected == ATTEMPTS and counts == {"retry": 1, "completed": 1}
    done = JobStore(env.settings).get(job.job_id)
    assert done.status == Status.COMPLETED and done.attempts == 1
    assert [r.status for r in _results(env)] == ["COMPLETED"]


def test_worker_dynamodb_down_at_complete_reruns_the_job_once_later(env):
    job = _submit(env)
    complete = lambda body: b"result_keys" in body
    with Inject(ddb(), "UpdateItem", 500, "InternalServerError", times=ATTEMPTS, when=complete) as f:
        counts = _run_worker(env)
    assert f.injected == ATTEMPTS and counts == {"retry": 1, "completed": 1}
    done = JobStore(env.settings).get(job.job_id)
    assert done.status == Status.COMPLETED and done.attempts == 2              # the claim was released, re-run
    assert sorted(_result_objects(env, job)) == sorted(done.result_keys)      # overwritten, not doubled
    assert [r.status for r in _results(env)] == ["COMPLETED"]


def test_worker_s3_down_for_the_input_fails_the_job_on_the_last_delivery(env):
    """S3 keeps answering 500 for the input: retried by botocore on each delivery, the message comes
    back, and on the queue's last delivery the job is FAILED with the reason (never RUNNING for ever)."""
    from tests.reliability.harness import record
    job = _submit(env)
    with Inject(s3(), "HeadObject", 500, "InternalError", times=1000) as h, \
            Inject(s3(), "GetObject", 500, "InternalError", times=1000):
        counts = _run_worker(env)
    failed = JobStore(env.settings).get(job.job_id)
    assert counts == {"retry": 5}, counts
    assert failed.status == Status.FAILED and failed.error.startswith("internal error after 5 attempts"), failed
    assert [r.status for r in _results(env)] == ["FAILED"]
    env.s3.head_object(Bucket=env.settings.inputs_bucket, Key=job.input_key)    # input kept
    record("worker_s3_outage", jobs=1, deliveries=5, s3_attempts=h.attempts, outcome="FAILED with reason", lost=0)


def test_worker_delete_failure_announces_again_and_notify_sends_once(env):
    from tests.reliability.harness import handler_event, lambda_context, load_function
    s = env.settings
    aws.client("sesv2", region=s.region).create_email_identity(EmailIdentity=s.sender_email)
    job = _submit(env)
    with Inject(aws.sqs(), "DeleteMessage", 500, "InternalError", times=ATTEMPTS):
        counts = _run_worker(env)
    assert counts == {"retry": 1, "duplicate": 1}          # completed, delete failed; redelivered: no re-run
    assert JobStore(s).get(job.job_id).attempts == 1
    results = env.receive("results_queue")
    assert [parse_record(m, JobResult).status for m in results] == ["COMPLETED", "COMPLETED"]
    notify = load_function("notify")
    out = notify(handler_event(results, env.sqs, env.queues["results_queue"]), lambda_context())
    assert out == {"batchItemFailures": []}
    from tests.reliability.harness import sent_mail
    assert len(sent_mail(s.region)) == 1
