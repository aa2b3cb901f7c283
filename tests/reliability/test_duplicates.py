"""Duplicate deliveries on every queue: the same message two or three times, in one batch and in
later batches, through the real consumers (the worker's runner and functions/*/app.py handlers)
against moto. Side effects are counted at the source: engine runs, S3 CopyObject/RestoreObject
calls, SES sends, Step Functions executions, DynamoDB timestamps.

    requests  x3 -> one engine run, attempts 1, one result set, one archive wait (3 JobResults: by design)
    results   x4 -> one email
    archive   x3 -> five CopyObject (one per result), archived_at written once
    thaw      x3 -> five RestoreObject, restore_requested_at written once
    restore   x2 per object -> five copies back to STANDARD, restored_at written once
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from gas import aws
from gas import jobs as J
from gas.jobs import ResultsState, Status
from gas.messages import ArchiveRequest, JobRequest, ThawRequest
from gas.store import JobStore
from gas.users import Plan, UserStore
from tests.reliability.harness import (
    handler_event,
    lambda_context,
    load_function,
    sent_mail,
)

pytest_plugins = ["tests.integration.aws_fixtures"]

ASL = Path(__file__).resolve().parents[2] / "statemachines" / "archive.asl.json"
VCF = ("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
       "1\t160\t.\tA\tG\t50\tPASS\tDP=5\n1\t250\t.\tC\tT\t50\tPASS\tDP=5\n")


class Calls:
    """Counts API calls a cached gas.aws client makes (botocore `before-call` events)."""

    def __init__(self, client, *operations: str) -> None:
        self.client, self.counts = client, Counter()
        self.ops = operations
        for op in operations:
            client.meta.events.register(f"before-call.{client.meta.service_model.endpoint_prefix}.{op}",
                                        self._count, unique_id=f"rel-count-{op}")

    def _count(self, model, **kwargs) -> None:
        self.counts[model.name] += 1

    def close(self) -> None:
        for op in self.ops:
            self.client.meta.events.unregister(
                f"before-call.{self.client.meta.service_model.endpoint_prefix}.{op}", unique_id=f"rel-count-{op}")


@pytest.fixture
def env(gas_aws, tiny, monkeypatch):
    monkeypatch.setenv("GAS_CACHE_DIR", str(tiny["cache"]))
    s = dataclasses.replace(gas_aws.settings, genome=str(tiny["bundle"]), archive_delay_s=3600)
    for f in dataclasses.fields(s):                  # the handlers read Settings.from_env()
        monkeypatch.setenv(s.env_name(f.name), str(getattr(s, f.name)))
    definition = ASL.read_text().replace("${ArchiveTopicArn}", gas_aws.topics["archive_topic"]) \
        .replace("${DefaultWaitSeconds}", "3600")
    sfn = aws.stepfunctions(s.region)
    gas_aws.sm_arn = sfn.create_state_machine(name=s.archive_state_machine, definition=definition,
                                              roleArn="arn:aws:iam::123456789012:role/x")["stateMachineArn"]
    gas_aws.sfn = sfn
    gas_aws.settings = s
    aws.client("sesv2", region=s.region).create_email_identity(EmailIdentity=s.sender_email)
    s3calls = Calls(aws.s3(s.region), "CopyObject", "RestoreObject", "PutObject")
    gas_aws.s3calls = s3calls
    yield gas_aws
    s3calls.close()


def receive_all(env, queue: str) -> list[dict]:
    out = []
    while batch := env.receive(queue, max_messages=10):
        out += batch
    return out


DELIVERED: Counter = Counter()


def invoke(env, fn, queue: str, messages: list[dict]) -> dict:
    DELIVERED[queue] += len(messages)
    return fn(handler_event(messages, env.sqs, env.queues[queue]), lambda_context())


def with_new_ids(messages: list[dict], tag: str) -> list[dict]:
    """The same bodies as a second delivery (SQS gives a redelivery a new receipt, same id; a
    second SNS publish a new id): distinct message ids so one batch can hold both."""
    return [{**m, "MessageId": f"{m['MessageId']}-{tag}", "ReceiptHandle": f"{m['ReceiptHandle']}-{tag}"}
            for m in messages]


def test_duplicates_on_every_queue_have_no_duplicate_side_effects(env) -> None:
    from annotator import worker
    DELIVERED.clear()
    from annotator.jobrun import RunConfig
    from tests.reliability.harness import record

    s = env.settings
    store = JobStore(s)
    user = UserStore(s).add("dora", "dora@example.org", Plan.FREE)
    job_id = J.new_job_id()
    key = f"{user.user_id}/{job_id}/dup.vcf"
    env.s3.put_object(Bucket=s.inputs_bucket, Key=key, Body=VCF.encode())
    assert store.create(J.new_job(user_id=user.user_id, input_file="dup.vcf", input_key=key,
                                  input_size=len(VCF), job_id=job_id))
    request = JobRequest(job_id=job_id, user_id=user.user_id, input_bucket=s.inputs_bucket, input_key=key,
                         genome="tiny").to_json()

    # -- requests: three deliveries of one request --------------------------------------------
    for _ in range(3):
        env.sns.publish(TopicArn=env.topics["job_requests_topic"], Message=request)
    w = worker.build(s, "w-dup", config=RunConfig(heartbeat_every_s=5))
    runs = []
    engine = w.runner.engine
    w.runner.engine = lambda *a: runs.append(1) or engine(*a)
    puts_before = env.s3calls.counts["PutObject"]
    counts = w.run(once=True)
    result_puts = env.s3calls.counts["PutObject"] - puts_before
    job = store.get(job_id)
    assert counts == {"completed": 1, "duplicate": 2}
    assert len(runs) == 1 and job.attempts == 1 and job.status == Status.COMPLETED
    assert result_puts == 5                                            # one result set
    listed = env.s3.list_objects_v2(Bucket=s.results_bucket, Prefix=f"{user.user_id}/{job_id}/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(job.result_keys)
    execs = env.sfn.list_executions(stateMachineArn=env.sm_arn)["executions"]
    assert [e["name"] for e in execs] == [job_id]                     # one archive wait

    # -- results: the three JobResults, one batch, plus a later redelivery ---------------------
    results = receive_all(env, "results_queue")
    assert len(results) == 3
    notify = load_function("notify")
    assert invoke(env, notify, "results_queue", results) == {"batchItemFailures": []}
    assert invoke(env, notify, "results_queue", with_new_ids(results[:1], "again")) == {"batchItemFailures": []}
    mail = sent_mail(s.region)
    assert len(mail) == 1 and mail[0].destinations["ToAddresses"] == ["dora@example.org"]

    # -- archive: the same ArchiveRequest twice in one batch, then once more --------------------
    archive = ArchiveRequest(job_id=job_id, user_id=user.user_id).to_json()
    for _ in range(2):
        env.sns.publish(TopicArn=env.topics["archive_topic"], Message=archive)
    msgs = receive_all(env, "archive_queue")
    fn = load_function("archive")
    assert invoke(env, fn, "archive_queue", msgs) == {"batchItemFailures": []}
    archived = store.get(job_id)
    assert archived.results_state == ResultsState.ARCHIVED
    assert invoke(env, fn, "archive_queue", with_new_ids(msgs[:1], "again")) == {"batchItemFailures": []}
    assert store.get(job_id).archived_at == archived.archived_at
    assert env.s3calls.counts["CopyObject"] == 5                       # one move per result object

    # -- thaw: the user upgrades; the ThawRequest arrives three times --------------------------
    assert UserStore(s).set_plan(user.user_id, Plan.PREMIUM)
    thaw = ThawRequest(job_id=job_id, user_id=user.user_id).to_json()
    for _ in range(2):
        env.sns.publish(TopicArn=env.topics["thaw_topic"], Message=thaw)
    msgs = receive_all(env, "thaw_queue")
    fn = load_function("thaw")
    assert invoke(env, fn, "thaw_queue", msgs) == {"batchItemFailures": []}
    thawing = store.get(job_id)
    assert thawing.results_state == ResultsState.RESTORING
    assert invoke(env, fn, "thaw_queue", with_new_ids(msgs[:1], "again")) == {"batchItemFailures": []}
    assert store.get(job_id).restore_requested_at == thawing.restore_requested_at
    assert env.s3calls.counts["RestoreObject"] == 5                    # one restore request per object

    # -- restore: moto emits ObjectRestore:Completed on the next read; every event twice ----------
    for k in job.result_keys:
        env.s3.head_object(Bucket=s.results_bucket, Key=k)
    events = receive_all(env, "restore_queue")
    assert len(events) == 5
    fn = load_function("restore")
    copies_before = env.s3calls.counts["CopyObject"]
    batch = events[:3] + with_new_ids(events[:3], "dup")              # 6 records, 3 distinct objects
    assert invoke(env, fn, "restore_queue", batch) == {"batchItemFailures": []}
    assert store.get(job_id).results_state == ResultsState.RESTORING   # 2 objects still archived
    assert invoke(env, fn, "restore_queue", events[3:] + with_new_ids(events, "again")) == {"batchItemFailures": []}
    done = store.get(job_id)
    assert done.results_state == ResultsState.AVAILABLE and done.restored_at
    assert env.s3calls.counts["CopyObject"] - copies_before == 5       # one copy back per object
    again = with_new_ids(events, "late")
    assert invoke(env, fn, "restore_queue", again) == {"batchItemFailures": []}
    assert store.get(job_id).restored_at == done.restored_at
    assert env.s3calls.counts["CopyObject"] - copies_before == 5
    assert len(sent_mail(s.region)) == 1

    record("duplicates", deliveries={"requests": 3, **{q.removesuffix("_queue"): n for q, n in DELIVERED.items()}},
           effects={"engine_runs": len(runs), "result_puts": result_puts,
                    "emails": len(sent_mail(s.region)), "archive_waits": len(execs),
                    "glacier_moves": 5, "restore_requests": env.s3calls.counts["RestoreObject"],
                    "copies_back": env.s3calls.counts["CopyObject"] - copies_before},
           duplicates=0)
