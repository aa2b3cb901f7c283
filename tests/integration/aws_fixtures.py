"""Reusable moto fixtures: every GAS table, bucket, topic and queue, named from Settings and
shaped like template.yaml (see docs/core.md "Resources" for the contract).

Use from a test module with::

    pytest_plugins = ["tests.integration.aws_fixtures"]

    def test_something(gas_aws):          # in-process moto (mock_aws), function-scoped
        gas_aws.sqs.receive_message(QueueUrl=gas_aws.queues["requests_queue"])

    def test_http(gas_moto_server):       # a real HTTP moto on 127.0.0.1:<random port>
        requests.post(gas_moto_server.endpoint + "/...")

`provision(settings, ...)` does the same against any endpoint (the embedded stack may reuse it).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import moto  # noqa: F401  (imported before any client is built, so moto intercepts them all)
import pytest
import requests

from gas import aws
from gas.settings import Settings
from gas.store import BY_RESULTS_STATE_INDEX, BY_USER_INDEX

# Queue shape (template.yaml should match): Lambda-fed queues get 6x a 30 s function timeout;
# the requests queue gets 15 min and the worker extends it while it heart-beats.
LAMBDA_QUEUE_VISIBILITY_S = 180
REQUESTS_QUEUE_VISIBILITY_S = 900
MAX_RECEIVE_COUNT = 3
DLQ_RETENTION_S = 14 * 24 * 3600

# (topic field, queue field, raw delivery). Our own messages go raw; the restore topic carries
# S3 events inside the SNS envelope, so both paths of messages.sqs_body are exercised.
SUBSCRIPTIONS: list[tuple[str, str, bool]] = [
    ("job_requests_topic", "requests_queue", True),
    ("job_results_topic", "results_queue", True),
    ("archive_topic", "archive_queue", True),
    ("thaw_topic", "thaw_queue", True),
    ("restore_topic", "restore_queue", False),
]
aws.reset_clients()  # drop any client built before moto was imported

_ENDPOINT_VARS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB",
                  "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_STEPFUNCTIONS")


@dataclass
class GasAws:
    """Handles on the provisioned resources. Dict keys are Settings field names."""

    settings: Settings
    s3: Any
    ddb: Any
    sqs: Any
    sns: Any
    topics: dict[str, str] = field(default_factory=dict)   # field -> topic ARN
    queues: dict[str, str] = field(default_factory=dict)   # field -> queue URL
    dlqs: dict[str, str] = field(default_factory=dict)     # field -> DLQ URL
    endpoint: str | None = None

    def receive(self, queue_field: str, max_messages: int = 10, wait_s: int = 0,
                delete: bool = True) -> list[dict[str, Any]]:
        """Receive (and by default delete) up to `max_messages` from a queue."""
        url = self.queues[queue_field]
        msgs = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=max_messages,
                                        WaitTimeSeconds=wait_s).get("Messages", [])
        if delete:
            for m in msgs:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return msgs


def jobs_table_spec(name: str) -> dict[str, Any]:
    """The jobs table: job_id key, by_user and by_results_state GSIs (both projection ALL)."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "job_id", "AttributeType": "S"},
            {"AttributeName": "user_id", "AttributeType": "S"},
            {"AttributeName": "submitted_at", "AttributeType": "S"},
            {"AttributeName": "results_state", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "job_id", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {"IndexName": BY_USER_INDEX,
             "KeySchema": [{"AttributeName": "user_id", "KeyType": "HASH"},
                           {"AttributeName": "submitted_at", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": BY_RESULTS_STATE_INDEX,
             "KeySchema": [{"AttributeName": "user_id", "KeyType": "HASH"},
                           {"AttributeName": "results_state", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}},
        ],
    }


def users_table_spec(name: str) -> dict[str, Any]:
    """The users table: user_id key only (name uniqueness uses guard items, not a GSI)."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "user_id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "user_id", "KeyType": "HASH"}],
    }


def provision(settings: Settings, *, s3: Any, ddb: Any, sqs: Any, sns: Any,
              endpoint: str | None = None) -> GasAws:
    """Create every resource GAS needs, the way template.yaml does."""
    out = GasAws(settings=settings, s3=s3, ddb=ddb, sqs=sqs, sns=sns, endpoint=endpoint)
    ddb.create_table(**jobs_table_spec(settings.jobs_table))
    ddb.create_table(**users_table_spec(settings.users_table))

    for bucket in (settings.inputs_bucket, settings.results_bucket):
        if settings.region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": settings.region})
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True,
            "BlockPublicPolicy": True, "RestrictPublicBuckets": True})

    for topic_field, queue_field, raw in SUBSCRIPTIONS:
        topic_arn = sns.create_topic(Name=getattr(settings, topic_field))["TopicArn"]
        out.topics[topic_field] = topic_arn
        qname = getattr(settings, queue_field)
        dlq_url = sqs.create_queue(QueueName=f"{qname}-dlq", Attributes={
            "MessageRetentionPeriod": str(DLQ_RETENTION_S)})["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        visibility = REQUESTS_QUEUE_VISIBILITY_S if queue_field == "requests_queue" else LAMBDA_QUEUE_VISIBILITY_S
        url = sqs.create_queue(QueueName=qname, Attributes={
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        })["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage", "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]})})
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn,
                      Attributes={"RawMessageDelivery": "true" if raw else "false"})
        out.queues[queue_field] = url
        out.dlqs[queue_field] = dlq_url

    # results bucket -> restore topic when a Glacier restore completes
    restore_arn = out.topics["restore_topic"]
    sns.set_topic_attributes(TopicArn=restore_arn, AttributeName="Policy", AttributeValue=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sns:Publish",
            "Resource": restore_arn,
            "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{settings.results_bucket}"}}}]}))
    s3.put_bucket_notification_configuration(Bucket=settings.results_bucket, NotificationConfiguration={
        "TopicConfigurations": [{"Id": "restore-completed", "TopicArn": restore_arn,
                                 "Events": ["s3:ObjectRestore:Completed"]}]})
    return out


def _isolate_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for var in _ENDPOINT_VARS:
        monkeypatch.delenv(var, raising=False)
    for f in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(f, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", settings.region)


@pytest.fixture
def gas_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[GasAws]:
    """In-process moto with every GAS resource; gas.aws clients point at it too."""
    from moto import mock_aws

    settings = Settings()
    _isolate_env(monkeypatch, settings)
    # Cached gas.aws clients are kept across tests (~0.1 s each to build): moto 5 intercepts
    # every botocore client created after `import moto`, whenever a mock is active.
    with mock_aws():
        yield provision(settings, s3=aws.s3(settings.region), ddb=aws.dynamodb(settings.region),
                        sqs=aws.sqs(settings.region), sns=aws.sns(settings.region))


@pytest.fixture(scope="session")
def moto_server_endpoint() -> Iterator[str]:
    """One ThreadedMotoServer on 127.0.0.1:<free port> for the session (stopping costs 0.5 s)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def gas_moto_server(moto_server_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[GasAws]:
    """The session's moto server, reset and provisioned; AWS_ENDPOINT_URL points at it."""
    settings = Settings()
    endpoint = moto_server_endpoint
    _isolate_env(monkeypatch, settings)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    # the threaded server shares moto's in-process backends: start from a clean slate
    requests.post(f"{endpoint}/moto-api/reset", timeout=5).raise_for_status()
    session = boto3.session.Session()
    mk = lambda svc: session.client(svc, region_name=settings.region, endpoint_url=endpoint,
                                    config=aws.client_config(svc))
    try:
        yield provision(settings, s3=mk("s3"), ddb=mk("dynamodb"), sqs=mk("sqs"), sns=mk("sns"),
                        endpoint=endpoint)
    finally:
        requests.post(f"{endpoint}/moto-api/reset", timeout=5)
