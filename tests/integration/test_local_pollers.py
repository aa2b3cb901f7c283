"""gas.local.pollers: Lambda's SQS event source, emulated against a moto server on 127.0.0.1.

Handlers are small modules written to tmp_path (plus one run of the real notify handler through
the whole embedded stack). Poll waits are 1 s and failed records come back at once
(failed_visibility_s=0) so the redrive path takes a few seconds, not minutes.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest
import requests

from gas.local.pollers import Pollers, QueuePoller, failed_ids, load_handler, sqs_event
from gas.local.provision import FunctionSpec, SqsEventSource

ROOT = Path(__file__).resolve().parents[2]

HANDLER = '''
import json
CALLS = []      # (messageId, ApproximateReceiveCount, body) per record seen
EVENTS = []

def lambda_handler(event, context):
    EVENTS.append(event)
    assert context.get_remaining_time_in_millis() > 0 and context.function_name == "fn"
    failures = []
    for rec in event["Records"]:
        CALLS.append((rec["messageId"], rec["attributes"]["ApproximateReceiveCount"], rec["body"]))
        if "fail" in rec["body"]:
            failures.append({"itemIdentifier": rec["messageId"]})
    return {"batchItemFailures": failures}
'''

RAISING = '''
CALLS = []
def lambda_handler(event, context):
    CALLS.append(len(event["Records"]))
    raise RuntimeError("boom")
'''


@pytest.fixture
def sqs(endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    requests.post(f"{endpoint}/moto-api/reset", timeout=5).raise_for_status()
    yield boto3.client("sqs", region_name="us-east-1", endpoint_url=endpoint)
    requests.post(f"{endpoint}/moto-api/reset", timeout=5)


def make_queue(sqs, name: str, max_receive: int = 2) -> tuple[str, str, str]:
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30", "RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive})})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn, dlq


def spec_for(tmp_path: Path, code: str, url: str, arn: str, batch: int = 10) -> FunctionSpec:
    d = tmp_path / "fn"
    d.mkdir(exist_ok=True)
    (d / "app.py").write_text(code)
    return FunctionSpec(logical_id="Fn", name="fn", code_dir=d, handler="app.lambda_handler", timeout_s=30,
                        memory_mb=256, environment={"POWERTOOLS_SERVICE_NAME": "fn"},
                        sqs_events=[SqsEventSource(name="Q", queue_logical_id="Q", queue_url=url, queue_arn=arn,
                                                   batch_size=batch, report_batch_item_failures=True)])


def count(sqs, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def wait_for(cond, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def test_partial_failure_redelivers_then_dead_letters(sqs, tmp_path):
    url, arn, dlq = make_queue(sqs, "work", max_receive=2)
    spec = spec_for(tmp_path, HANDLER, url, arn)
    pollers = Pollers([spec], sqs, "us-east-1", wait_s=1, failed_visibility_s=0)
    module = pollers.threads[0].handler.__globals__
    sqs.send_message(QueueUrl=url, MessageBody="ok-1",
                     MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}})
    sqs.send_message(QueueUrl=url, MessageBody="fail-1")
    with pollers:
        assert wait_for(lambda: count(sqs, dlq) == 1 and count(sqs, url) == 0), pollers.stats()
    ok = [c for c in module["CALLS"] if c[2] == "ok-1"]
    bad = [c for c in module["CALLS"] if c[2] == "fail-1"]
    assert len(ok) == 1, "the successful record was deleted after its first delivery"
    assert [c[1] for c in bad] == ["1", "2"], "the failed one came back until maxReceiveCount"
    (dead,) = sqs.receive_message(QueueUrl=dlq)["Messages"]
    assert dead["Body"] == "fail-1"

    # the event has exactly the shape of events/*.json
    sample = json.loads((ROOT / "events" / "notify.json").read_text())["Records"][0]
    rec = next(r for e in module["EVENTS"] for r in e["Records"] if r["body"] == "ok-1")
    # Lambda adds md5OfMessageAttributes when the message has attributes (this one does)
    assert set(rec) - {"md5OfMessageAttributes"} == set(sample)
    assert set(sample["attributes"]) <= set(rec["attributes"])
    assert rec["eventSource"] == "aws:sqs" and rec["eventSourceARN"] == arn and rec["awsRegion"] == "us-east-1"
    assert rec["messageAttributes"] == {"kind": {"stringValue": "test", "stringListValues": [],
                                                 "binaryListValues": [], "dataType": "String"}}


def test_a_raising_handler_fails_the_whole_batch(sqs, tmp_path):
    url, arn, dlq = make_queue(sqs, "boom", max_receive=1)
    spec = spec_for(tmp_path, RAISING, url, arn)
    poller = QueuePoller(spec, spec.sqs_events[0], sqs, "us-east-1", stop=None, wait_s=1,  # type: ignore[arg-type]
                         failed_visibility_s=0)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(2)])
    received = 0
    while received < 2:
        received += poller.poll_once()
    assert poller.stats.deleted == 0 and poller.stats.failed == 2
    assert count(sqs, url) == 2, "nothing was deleted"
    assert poller.poll_once() == 0, "after maxReceiveCount 1 the next receive moves them to the DLQ"
    assert count(sqs, dlq) == 2


def test_failed_ids_follows_lambda_rules():
    event = {"Records": [{"messageId": "a"}, {"messageId": "b"}]}
    assert failed_ids({"batchItemFailures": []}, event, True) == set()
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, event, True) == {"b"}
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "zz"}]}, event, True) == {"a", "b"}
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, event, True) == {"a", "b"}
    assert failed_ids(None, event, True) == set()
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, event, False) == set()


def test_each_function_gets_its_own_module(tmp_path):
    a = spec_for(tmp_path, HANDLER, "u", "arn")
    h1, h2 = load_handler(a), load_handler(a)
    assert h1.__globals__ is not h2.__globals__
    assert sqs_event([], "arn", "us-east-1") == {"Records": []}


def test_real_notify_handler_through_the_stack_dead_letters_a_poison_message():
    """SNS -> SQS -> poller -> functions/notify/app.py -> PoisonMessage -> retried -> results DLQ."""
    pytest.importorskip("aws_lambda_powertools")
    from gas import aws
    from gas.local.stack import start_stack

    stack = start_stack(poll_wait_s=1, failed_visibility_s=0)
    try:
        prov = stack.provisioned
        aws.sns().publish(TopicArn=prov.ref("JobResultsTopic"), Message="{not json")
        sqs = aws.sqs()
        assert wait_for(lambda: count(sqs, prov.ref("ResultsDLQ")) == 1, timeout=15), stack.pollers.stats()
        stats = stack.pollers.stats()["poller-NotifyFunction-Results"]
        assert stats["failed"] == 5 and stats["deleted"] == 0  # maxReceiveCount 5 in template.yaml
    finally:
        stack.stop(timeout=5)
