"""gas.local.persist: the embedded stack's state survives a stop and a start on the same data dir.

Pollers are off so messages stay in their queues; each stack is a full `start_stack` (moto reset,
template provisioned), so everything found after a restart came from `<data_dir>/state`.
"""
from __future__ import annotations

import json
import os
import time

import boto3
import pytest

from gas.local.persist import MARKER, decode_av, default_wait_seconds, encode_av
from gas.local.stack import start_stack

BIG = os.urandom(3 * 1024 * 1024 + 17)
JOB = {"job_id": {"S": "job-1"}, "user_id": {"S": "u1"}, "submitted_at": {"S": "2026-11-28T10:00:00Z"},
       "results_state": {"S": "archived"}, "size": {"N": "12345678901234567890"}, "ratio": {"N": "0.25"},
       "tags": {"SS": ["a", "b"]}, "counts": {"NS": ["1", "2"]}, "blob": {"B": b"\x00\x01\xff"},
       "files": {"L": [{"S": "x.vcf"}, {"N": "3"}, {"M": {"k": {"BOOL": True}}}]},
       "summary": {"M": {"genes": {"N": "7"}, "none": {"NULL": True}}}}
GUARD = {"user_id": {"S": "name#alice"}, "owner": {"S": "u1"}}


def _stack(data_dir, **kw):
    return start_stack(pollers=False, data_dir=data_dir, restore_delay_s=600,
                       parameters={"ArchiveDelaySeconds": 600}, **kw)


def _clients(stack):
    def c(name):
        return boto3.client(name, endpoint_url=stack.endpoint, region_name="us-east-1")
    return c("s3"), c("dynamodb"), c("sqs"), c("stepfunctions")


def _drain(sqs, url):
    """Every message of a queue (received with a long visibility, so each once), by body."""
    out = {}
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0,
                                   AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            assert m["Body"] not in out, "duplicate message"
            out[m["Body"]] = m


def test_av_codec_round_trips_binary_and_nesting():
    assert decode_av(json.loads(json.dumps(encode_av({"M": {"b": {"B": b"\xff"}, "l": {"L": [{"BS": [b"1"]}]}}})))) \
        == {"M": {"b": {"B": b"\xff"}, "l": {"L": [{"BS": [b"1"]}]}}}
    assert default_wait_seconds('{"x": "States.StringToJson(\'42\')"}') == 42
    assert default_wait_seconds(json.dumps({"States": {"W": {"Type": "Wait", "Seconds": 9}}})) == 9


def test_state_survives_restarts(tmp_path):
    data = tmp_path / "gas"
    # ------------------------------------------------------------------ first life
    stack = _stack(data, snapshot_interval_s=0.3)
    try:
        s3, ddb, sqs, sfn = _clients(stack)
        env = stack.env
        inputs, results = env["GAS_INPUTS_BUCKET"], env["GAS_RESULTS_BUCKET"]
        s3.put_object(Bucket=inputs, Key="u1/job-1/in.vcf", Body=b"##fileformat=VCFv4.2\n",
                      ContentType="text/x-vcf", Metadata={"job-id": "job-1", "owner": "u1"})
        s3.put_object(Bucket=results, Key="u1/job-1/big.tsv.gz", Body=BIG, ContentType="application/gzip",
                      ContentEncoding="gzip")
        s3.put_object(Bucket=results, Key="u1/job-1/out.tsv", Body=b"chrom\tpos\n1\t100\n",
                      ContentType="text/tab-separated-values")
        # archived: moved to GLACIER in place (what the archive function does)
        s3.copy_object(Bucket=results, Key="u1/job-1/out.tsv", StorageClass="GLACIER", MetadataDirective="COPY",
                       CopySource={"Bucket": results, "Key": "u1/job-1/out.tsv"})
        s3.put_object(Bucket=results, Key="u2/job-2/out.tsv", Body=b"thawing", StorageClass="GLACIER")
        s3.restore_object(Bucket=results, Key="u2/job-2/out.tsv", RestoreRequest={"Days": 2})

        ddb.put_item(TableName=env["GAS_JOBS_TABLE"], Item=JOB)
        ddb.put_item(TableName=env["GAS_USERS_TABLE"], Item=GUARD)

        req_url = sqs.get_queue_url(QueueName=env["GAS_REQUESTS_QUEUE"])["QueueUrl"]
        dlq_url = sqs.get_queue_url(QueueName=env["GAS_REQUESTS_QUEUE"] + "-dlq")["QueueUrl"]
        sqs.send_message(QueueUrl=req_url, MessageBody='{"job_id": "job-1"}',
                         MessageAttributes={"kind": {"DataType": "String", "StringValue": "annotate"},
                                            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x02"}})
        sqs.send_message(QueueUrl=req_url, MessageBody='{"job_id": "job-in-flight"}')
        got = sqs.receive_message(QueueUrl=req_url, MaxNumberOfMessages=10, VisibilityTimeout=300)["Messages"]
        sqs.delete_message(QueueUrl=req_url, ReceiptHandle=next(
            m["ReceiptHandle"] for m in got if m["Body"] == '{"job_id": "job-1"}'))
        sqs.send_message(QueueUrl=req_url, MessageBody='{"job_id": "job-1"}',
                         MessageAttributes={"kind": {"DataType": "String", "StringValue": "annotate"},
                                            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x02"}})
        sqs.send_message(QueueUrl=dlq_url, MessageBody='{"job_id": "poison"}')

        arn = env["GAS_ARCHIVE_STATE_MACHINE"]
        sfn.start_execution(stateMachineArn=arn, name="job-1",
                            input=json.dumps({"job_id": "job-1", "user_id": "u1", "wait_seconds": 600}))
        started = time.time()

        deadline = time.time() + 5  # the periodic snapshot has caught everything
        while time.time() < deadline:
            m = data / "state" / MARKER
            if m.is_file() and json.loads(m.read_text())["executions"] == 1:
                break
            time.sleep(0.1)
        else:
            pytest.fail("no periodic snapshot")
    finally:
        stack.stop()
    assert not list(data.glob("state.tmp-*")) and not (data / "state.old").exists()
    # a crash mid-snapshot leaves a temp folder behind: it must be ignored (and cleaned up)
    junk = data / "state.tmp-999-1"
    (junk / "s3").mkdir(parents=True)
    (junk / MARKER).write_text('{"version": 1, "garbage": true}')

    # ------------------------------------------------------------------ second and third lives
    seen_counts = None
    for life in (2, 3):
        t_start = time.time()
        stack = _stack(data)
        try:
            s3, ddb, sqs, sfn = _clients(stack)
            env = stack.env
            inputs, results = env["GAS_INPUTS_BUCKET"], env["GAS_RESULTS_BUCKET"]
            assert stack.restored["objects"] == 4 and stack.restored["items"] == 2

            head = s3.head_object(Bucket=inputs, Key="u1/job-1/in.vcf")
            assert head["ContentType"] == "text/x-vcf" and head["Metadata"] == {"job-id": "job-1", "owner": "u1"}
            assert s3.get_object(Bucket=inputs, Key="u1/job-1/in.vcf")["Body"].read() == b"##fileformat=VCFv4.2\n"
            big = s3.get_object(Bucket=results, Key="u1/job-1/big.tsv.gz")
            assert big["Body"].read() == BIG and big["ContentEncoding"] == "gzip"
            assert big["ContentLength"] == len(BIG) and big.get("StorageClass", "STANDARD") == "STANDARD"
            archived = s3.head_object(Bucket=results, Key="u1/job-1/out.tsv")
            assert archived["StorageClass"] == "GLACIER" and "Restore" not in archived
            assert archived["ContentType"] == "text/tab-separated-values"
            with pytest.raises(s3.exceptions.ClientError, match="InvalidObjectState"):
                s3.get_object(Bucket=results, Key="u1/job-1/out.tsv")
            thawing = s3.head_object(Bucket=results, Key="u2/job-2/out.tsv")
            assert thawing["StorageClass"] == "GLACIER" and "Restore" in thawing
            listed = s3.list_objects_v2(Bucket=results)["Contents"]
            assert len(listed) == 3

            jobs = ddb.scan(TableName=env["GAS_JOBS_TABLE"])["Items"]
            assert jobs == [JOB]   # every type, incl. big/decimal numbers, sets, binary, nesting
            assert ddb.scan(TableName=env["GAS_USERS_TABLE"])["Items"] == [GUARD]
            by_user = ddb.query(TableName=env["GAS_JOBS_TABLE"], IndexName="by_user",
                                KeyConditionExpression="user_id = :u",
                                ExpressionAttributeValues={":u": {"S": "u1"}})["Items"]
            assert [i["job_id"]["S"] for i in by_user] == ["job-1"]   # indexes rebuilt

            req_url = sqs.get_queue_url(QueueName=env["GAS_REQUESTS_QUEUE"])["QueueUrl"]
            dlq_url = sqs.get_queue_url(QueueName=env["GAS_REQUESTS_QUEUE"] + "-dlq")["QueueUrl"]
            msgs = _drain(sqs, req_url)  # the in-flight one comes back visible
            assert set(msgs) == {'{"job_id": "job-1"}', '{"job_id": "job-in-flight"}'}
            first = msgs['{"job_id": "job-1"}']
            assert first["MessageAttributes"]["kind"]["StringValue"] == "annotate"
            assert first["MessageAttributes"]["raw"]["BinaryValue"] == b"\x00\x02"
            counts = {b: int(m["Attributes"]["ApproximateReceiveCount"]) for b, m in msgs.items()}
            if seen_counts is None:
                assert counts == {'{"job_id": "job-1"}': 1, '{"job_id": "job-in-flight"}': 2}
            else:   # receive counts are kept: each drain added one
                assert counts == {b: c + 1 for b, c in seen_counts.items()}
            seen_counts = counts
            assert set(_drain(sqs, dlq_url)) == {'{"job_id": "poison"}'}

            arn = env["GAS_ARCHIVE_STATE_MACHINE"]
            running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
            assert [e["name"] for e in running] == ["job-1"]
            payload = json.loads(sfn.describe_execution(executionArn=running[0]["executionArn"])["input"])
            assert payload["job_id"] == "job-1" and payload["user_id"] == "u1"
            remaining = started + 600 - t_start   # what was left of the wait when restored
            assert remaining - 3 <= payload["wait_seconds"] <= remaining + 1
        finally:
            stack.stop()
        assert not junk.exists()


def test_falls_back_to_previous_snapshot_after_a_crash_between_renames(tmp_path):
    data = tmp_path / "gas"
    stack = _stack(data, snapshot_interval_s=0)
    try:
        ddb = _clients(stack)[1]
        ddb.put_item(TableName=stack.env["GAS_USERS_TABLE"], Item=GUARD)
        assert stack.persistence.snapshot() is True
        assert stack.persistence.snapshot() is False   # nothing changed: nothing written
        ddb.put_item(TableName=stack.env["GAS_USERS_TABLE"], Item={**GUARD, "owner": {"S": "u2"}})
        ddb.put_item(TableName=stack.env["GAS_USERS_TABLE"], Item=GUARD)
        assert stack.persistence.snapshot() is False   # same state again
    finally:
        stack.stop()
    # crash after `state` -> `state.old`, before the new folder was renamed in
    (data / "state").rename(data / "state.old")
    (data / "state.tmp-1-1").mkdir()
    stack = _stack(data, snapshot_interval_s=0)
    try:
        assert stack.restored["items"] == 1
        assert _clients(stack)[1].scan(TableName=stack.env["GAS_USERS_TABLE"])["Items"] == [GUARD]
    finally:
        stack.stop()
    assert (data / "state" / MARKER).is_file() and not (data / "state.old").exists()


def test_logins_survive_restarts_with_their_sub(tmp_path):
    """Cognito users of the local pool come back with their sub (= the users table's user_id),
    password and status, although moto gives the pool a new id at each start."""
    import dataclasses

    from gas.auth import Auth, BadCredentials, NotConfirmed
    from gas.settings import Settings

    data = tmp_path / "gas"
    stack = _stack(data, snapshot_interval_s=0)
    try:
        settings = Settings.from_env()
        assert settings.signup_auto_confirm == 1 and settings.user_pool_id == stack.env["GAS_USER_POOL_ID"]
        auth = Auth(settings)
        alice, password = auth.create_login("alice", "alice@example.org", "premium")
        bob = auth.sign_up("bob", "bob@example.org", "Correct-Horse-42").user
        carol = Auth(dataclasses.replace(settings, signup_auto_confirm=0)).sign_up(
            "carol", "carol@example.org", "Correct-Horse-42").user
    finally:
        stack.stop()
    saved = data / "state" / "cognito.json"
    assert oct(saved.stat().st_mode & 0o777) == "0o600"   # it holds passwords
    assert json.loads((data / "state" / MARKER).read_text())["logins"] == 3

    for _ in range(2):  # twice: a restored login is saved again as it was
        stack = _stack(data, snapshot_interval_s=0)
        try:
            assert stack.restored["logins"] == 3
            settings = Settings.from_env()
            auth = Auth(settings)
            assert auth.sign_in("alice@example.org", password).user_id == alice.user_id
            assert auth.sign_in("bob@example.org", "Correct-Horse-42") == bob
            with pytest.raises(NotConfirmed):
                auth.sign_in("carol@example.org", "Correct-Horse-42")
            with pytest.raises(BadCredentials):
                auth.sign_in("bob@example.org", password)
            assert auth.users.get(carol.user_id).name == "carol"
            idp = boto3.client("cognito-idp", endpoint_url=stack.endpoint, region_name="us-east-1")
            subs = {u["Username"]: {a["Name"]: a["Value"] for a in u["Attributes"]}["sub"]
                    for u in idp.list_users(UserPoolId=settings.user_pool_id)["Users"]}
            assert set(subs.values()) == {alice.user_id, bob.user_id, carol.user_id}
        finally:
            stack.stop()
