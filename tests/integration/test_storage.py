"""S3 helpers against moto: presigned POST, inputs, Glacier moves, restore, restore events."""
from __future__ import annotations

import json

import gzip

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from gas import jobs as J
from gas import messages as M
from gas import storage as S

pytest_plugins = ["tests.integration.aws_fixtures"]

VCF = b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t100\t.\tA\tG\t.\t.\t.\n"


def test_presigned_post_policy_and_real_upload(gas_moto_server):
    env = gas_moto_server
    job_id = J.new_job_id()
    post = S.presigned_post("alice", job_id, "../My Sample.vcf", max_bytes=200, ttl=60, settings=env.settings)
    assert post["key"] == f"alice/{job_id}/My_Sample.vcf" == post["fields"]["key"]
    assert post["url"].startswith(env.endpoint)
    policy = S.post_policy(post["fields"])
    conds = policy["conditions"]
    assert ["content-length-range", 1, 200] in conds
    assert {"key": post["key"]} in conds                       # exact key, no starts-with
    assert {"bucket": env.settings.inputs_bucket} in conds
    assert not any(isinstance(c, list) and c[0] == "starts-with" for c in conds)
    assert all("secret" not in k.lower() for k in post["fields"])

    # a valid upload through HTTP lands at exactly that key
    ok = requests.post(post["url"], data=post["fields"], files={"file": ("x.vcf", VCF)}, timeout=10)
    assert ok.status_code == 204, ok.text
    head = S.head_input(post["key"], settings=env.settings)
    assert head.size == len(VCF) and head.looks_like_vcf

    # what S3 would refuse, by the policy
    big = b"#" * 201
    assert S.check_post_policy(post["fields"], env.settings.inputs_bucket, len(big)) == "EntityTooLarge"
    assert S.check_post_policy(post["fields"], env.settings.inputs_bucket, 0) == "EntityTooSmall"
    moved = {**post["fields"], "key": f"bob/{job_id}/x.vcf"}
    assert "key" in S.check_post_policy(moved, env.settings.inputs_bucket, 10)


def test_moto_does_not_enforce_post_policy(gas_moto_server):
    """Documents a moto 5.2 gap: it stores an over-size upload. If this starts failing, moto now
    enforces content-length-range and the local stack's own check can go."""
    env = gas_moto_server
    post = S.presigned_post("alice", J.new_job_id(), "a.vcf", max_bytes=10, ttl=60, settings=env.settings)
    r = requests.post(post["url"], data=post["fields"], files={"file": ("a.vcf", b"x" * 100)}, timeout=10)
    assert r.status_code == 204
    assert S.head_input(post["key"], settings=env.settings).size == 100


def test_presigned_post_limits(gas_aws):
    with pytest.raises(ValueError):
        S.presigned_post("alice", J.new_job_id(), "a.vcf", max_bytes=0, settings=gas_aws.settings)
    with pytest.raises(ValueError):
        S.presigned_post("alice", J.new_job_id(), "a.vcf", max_bytes=10, ttl=86400, settings=gas_aws.settings)
    with pytest.raises(S.InvalidKey):
        S.presigned_post("../bob", J.new_job_id(), "a.vcf", max_bytes=10, settings=gas_aws.settings)


def test_presigned_get(gas_moto_server):
    env = gas_moto_server
    key = S.result_key("alice", J.new_job_id(), "annotated.vcf.gz")
    env.s3.put_object(Bucket=env.settings.results_bucket, Key=key, Body=b"results")
    url = S.presigned_get(key, settings=env.settings, download_name="my results.vcf.gz")
    assert "X-Amz-Expires=300" in url and "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == b"results"
    assert 'filename="my_results.vcf.gz"' in r.headers.get("content-disposition", "")
    with pytest.raises(S.InvalidKey):
        S.presigned_get("../../etc/passwd", settings=env.settings)


def test_head_input(gas_aws):
    st = gas_aws.settings
    job_id = J.new_job_id()
    key = S.input_key("alice", job_id, "a.vcf.gz")
    assert S.head_input(key, settings=st) is None
    gas_aws.s3.put_object(Bucket=st.inputs_bucket, Key=key, Body=gzip.compress(VCF * 200))
    head = S.head_input(key, settings=st)
    assert head.looks_like_vcf and len(head.first_bytes) <= S.HEAD_BYTES
    bad = S.input_key("alice", job_id, "b.vcf")
    gas_aws.s3.put_object(Bucket=st.inputs_bucket, Key=bad, Body=b"PK\x03\x04zip")
    assert not S.head_input(bad, settings=st).looks_like_vcf
    empty = S.input_key("alice", job_id, "c.vcf")
    gas_aws.s3.put_object(Bucket=st.inputs_bucket, Key=empty, Body=b"")
    assert S.head_input(empty, settings=st).size == 0


def test_glacier_cycle_and_restore_event(gas_aws):
    st, s3 = gas_aws.settings, gas_aws.s3
    bucket = st.results_bucket
    key = S.result_key("alice", J.new_job_id(), "annotated.vcf.gz")
    s3.put_object(Bucket=bucket, Key=key, Body=b"results", Metadata={"job": "x"})
    assert S.storage_class(bucket, key, s3=s3) == "STANDARD"
    assert S.copy_back_to_standard(bucket, key, s3=s3) is False       # nothing to do
    assert S.restore(bucket, key, "Expedited", s3=s3) == S.RestoreOutcome.NOT_ARCHIVED

    assert S.move_to_glacier(bucket, key, s3=s3) is True
    assert S.move_to_glacier(bucket, key, s3=s3) is False             # idempotent
    assert S.storage_class(bucket, key, s3=s3) == "GLACIER"
    assert s3.head_object(Bucket=bucket, Key=key)["Metadata"] == {"job": "x"}   # metadata kept
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key=key)
    assert exc.value.response["Error"]["Code"] == "InvalidObjectState"

    assert S.restore(bucket, key, "Expedited", s3=s3) == S.RestoreOutcome.STARTED
    assert S.restore_status(bucket, key, s3=s3) is not None   # this read also emits the event
    events = []
    # (moto's s3:TestEvent, sent when the notification is configured, reaches the queue only if
    # the subscription existed first; template order configures the bucket first. Skipping it is
    # unit-tested in tests/unit/test_messages.py.)
    for msg in gas_aws.receive("restore_queue", wait_s=1):
        events += M.restore_events(msg)
    assert [(e.bucket, e.key) for e in events] == [(bucket, key)]
    assert events[0].user_id == "alice"

    assert S.copy_back_to_standard(bucket, key, s3=s3) is True
    assert S.storage_class(bucket, key, s3=s3) == "STANDARD"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"results"


def _stubbed():
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return s3, Stubber(s3)


@pytest.mark.parametrize("code,status,outcome", [
    ("RestoreAlreadyInProgress", 409, S.RestoreOutcome.IN_PROGRESS),
    ("GlacierExpeditedRetrievalNotAvailable", 503, S.RestoreOutcome.UNAVAILABLE),
])
def test_restore_error_answers(code, status, outcome):
    s3, stub = _stubbed()
    stub.add_client_error("restore_object", service_error_code=code, http_status_code=status)
    with stub:
        assert S.restore("b", "k", "Expedited", s3=s3) == outcome


def test_restore_already_restored_and_fallback():
    s3, stub = _stubbed()
    stub.add_response("restore_object", {"ResponseMetadata": {"HTTPStatusCode": 200}})
    with stub:  # 200 (not 202): a restored copy already exists
        assert S.restore("b", "k", "Standard", s3=s3) == S.RestoreOutcome.ALREADY_RESTORED
    s3, stub = _stubbed()
    stub.add_client_error("restore_object", service_error_code="GlacierExpeditedRetrievalNotAvailable",
                          http_status_code=503,
                          expected_params={"Bucket": "b", "Key": "k", "RestoreRequest": {
                              "Days": 1, "GlacierJobParameters": {"Tier": "Expedited"}}})
    stub.add_response("restore_object", {"ResponseMetadata": {"HTTPStatusCode": 202}}, expected_params={
        "Bucket": "b", "Key": "k", "RestoreRequest": {"Days": 1, "GlacierJobParameters": {"Tier": "Standard"}}})
    with stub:
        assert S.restore_with_fallback("b", "k", s3=s3) == ("Standard", S.RestoreOutcome.STARTED)
        stub.assert_no_pending_responses()
    s3, stub = _stubbed()
    stub.add_client_error("restore_object", service_error_code="AccessDenied", http_status_code=403)
    with stub, pytest.raises(ClientError):
        S.restore("b", "k", "Standard", s3=s3)


def test_topics_deliver_to_queues_and_dlq(gas_aws):
    """The template's wiring: each topic feeds its queue inside an SNS envelope (RawMessageDelivery
    false, as on AWS), and a message received maxReceiveCount times without deletion moves to the DLQ."""
    from tests.integration.aws_fixtures import SUBSCRIPTIONS

    job_id = J.new_job_id()
    msgs = {
        "job_requests_topic": M.JobRequest(job_id=job_id, user_id="alice", input_bucket="gas-inputs",
                                           input_key=f"alice/{job_id}/a.vcf", genome="GRCh38"),
        "job_results_topic": M.JobResult(job_id=job_id, user_id="alice", status="COMPLETED", variants=1),
        "archive_topic": M.ArchiveRequest(job_id=job_id, user_id="alice"),
        "thaw_topic": M.ThawRequest(job_id=job_id, user_id="alice"),
    }
    for topic_field, queue_field in SUBSCRIPTIONS:
        if topic_field not in msgs:
            continue
        gas_aws.sns.publish(TopicArn=gas_aws.topics[topic_field], Message=msgs[topic_field].to_json())
        got = gas_aws.receive(queue_field)
        assert len(got) == 1 and json.loads(got[0]["Body"])["Type"] == "Notification"
        assert M.parse_record(got[0], type(msgs[topic_field])) == msgs[topic_field]

    url = gas_aws.queues["requests_queue"]
    redrive = gas_aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
    max_receives = int(json.loads(redrive["Attributes"]["RedrivePolicy"])["maxReceiveCount"])
    assert max_receives == 5                                  # template.yaml's redrive
    gas_aws.sqs.send_message(QueueUrl=url, MessageBody="poison")
    for _ in range(max_receives):
        (m,) = gas_aws.receive("requests_queue", delete=False)
        with pytest.raises(M.PoisonMessage):
            M.parse_record(m, M.JobRequest)
        gas_aws.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                              VisibilityTimeout=0)
    assert gas_aws.receive("requests_queue") == []
    dead = gas_aws.sqs.receive_message(QueueUrl=gas_aws.dlqs["requests_queue"]).get("Messages", [])
    assert [d["Body"] for d in dead] == ["poison"]


def test_aws_clients_follow_endpoint_env(monkeypatch):
    """gas.aws: AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> are honoured (boto3 resolves
    them), clients are cached per (service, endpoint, region), and retries/timeouts are set."""
    from gas import aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1111")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:2222")
    s3, ddb = aws.client("s3", region="eu-west-1"), aws.client("dynamodb", region="eu-west-1")
    assert s3.meta.endpoint_url == "http://127.0.0.1:2222"
    assert ddb.meta.endpoint_url == "http://127.0.0.1:1111"
    assert aws.client("s3", region="eu-west-1") is s3
    assert aws.client("s3", region="eu-west-2") is not s3
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:3333")
    assert aws.client("s3", region="eu-west-1").meta.endpoint_url == "http://127.0.0.1:3333"
    assert aws.client("sqs", region="eu-west-1").meta.config.read_timeout > 20   # long polls
    # botocore's max_attempts=5 means 5 retries: 6 attempts in all
    assert ddb.meta.config.retries == {"mode": "standard", "total_max_attempts": 6}
    assert aws.client("s3", endpoint_url="http://127.0.0.1:4444", region="eu-west-1").meta.endpoint_url \
        == "http://127.0.0.1:4444"
