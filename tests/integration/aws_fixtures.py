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

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import moto  # noqa: F401  (imported before any client is built, so moto intercepts them all)
import pytest
import requests

from gas import aws
from gas.settings import Settings

# (topic field, queue field) pairs the template subscribes (RawMessageDelivery false everywhere).
SUBSCRIPTIONS: list[tuple[str, str]] = [
    ("job_requests_topic", "requests_queue"),
    ("job_results_topic", "results_queue"),
    ("archive_topic", "archive_queue"),
    ("thaw_topic", "thaw_queue"),
    ("restore_topic", "restore_queue"),
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


def provision(settings: Settings, *, s3: Any, ddb: Any, sqs: Any, sns: Any,
              endpoint: str | None = None) -> GasAws:
    """Create every resource from template.yaml itself, through the embedded stack's provisioner,
    so tests see the same queues, redrive, visibility, delivery mode and indexes as AWS does."""
    from gas.local.provision import provision as from_template
    given = {"s3": s3, "dynamodb": ddb, "sqs": sqs, "sns": sns}
    prov = from_template(endpoint, settings=settings,
                         clients=lambda svc: given.get(svc) or aws.client(svc, region=settings.region))
    out = GasAws(settings=settings, s3=s3, ddb=ddb, sqs=sqs, sns=sns, endpoint=endpoint)
    for topic_field, queue_field in SUBSCRIPTIONS:
        out.topics[topic_field] = prov.env[Settings.env_name(topic_field)]
        name = prov.env[Settings.env_name(queue_field)]
        out.queues[queue_field] = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        out.dlqs[queue_field] = sqs.get_queue_url(QueueName=f"{name}-dlq")["QueueUrl"]
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
