"""Queue messages: strict validation, poison reasons, SNS envelope vs raw, S3 events."""
from __future__ import annotations

import json
from urllib.parse import quote_plus

import pytest

from gas import messages as M
from gas.messages import PoisonMessage

JOB = "0190f3a1b2c3d4e5f6a7b8c9d0e1f2a3"
USER = "alice"
KEY = f"{USER}/{JOB}/sample.vcf.gz"


def request(**kw) -> dict:
    d = {"version": 1, "job_id": JOB, "user_id": USER, "input_bucket": "gas-inputs",
         "input_key": KEY, "genome": "GRCh38"}
    d.update(kw)
    return d


def envelope(message: str) -> str:
    return json.dumps({"Type": "Notification", "MessageId": "m-1",
                       "TopicArn": "arn:aws:sns:us-east-1:123456789012:gas-job-requests",
                       "Message": message, "Timestamp": "2026-11-20T12:00:00.000Z",
                       "SignatureVersion": "1", "Signature": "x", "SigningCertURL": "x", "UnsubscribeURL": "x"})


def test_round_trip_every_message():
    msgs = [M.JobRequest(**{k: v for k, v in request().items()}),
            M.JobResult(job_id=JOB, user_id=USER, status="COMPLETED", variants=3, results_state="available"),
            M.JobResult(job_id=JOB, user_id=USER, status="FAILED", error="not a VCF"),
            M.ArchiveRequest(job_id=JOB, user_id=USER), M.ThawRequest(job_id=JOB, user_id=USER)]
    for m in msgs:
        body = m.to_json()
        assert json.loads(body)["version"] == 1
        assert type(m).parse(body) == m
        assert type(m).parse(body.encode()) == m
        assert type(m).parse(json.loads(body)) == m


@pytest.mark.parametrize("body,reason", [
    ("not json", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps({k: v for k, v in request().items() if k != "version"}), "no version"),
    (json.dumps(request(version=2)), "unsupported version 2"),
    (json.dumps(request(extra="x")), "extra: Extra inputs are not permitted"),
    (json.dumps(request(job_id="../../etc")), "job_id"),
    (json.dumps(request(input_key=f"bob/{JOB}/sample.vcf")), "is not under alice/"),
    (json.dumps(request(input_key=f"{USER}/{JOB}/../x")), "is not under"),
    (json.dumps(request(genome=38)), "genome"),           # strict: no int -> str coercion
    (json.dumps({k: v for k, v in request().items() if k != "input_key"}), "input_key: Field required"),
    ("x" * (M.MAX_BODY + 1), "larger than"),
])
def test_job_request_poison(body, reason):
    with pytest.raises(PoisonMessage) as exc:
        M.JobRequest.parse(body)
    assert reason in exc.value.reason and exc.value.reason.startswith("JobRequest")


@pytest.mark.parametrize("fields,reason", [
    ({"status": "DONE"}, "status"),
    ({"status": "COMPLETED"}, "variants and no error"),
    ({"status": "FAILED"}, "has an error"),
    ({"status": "COMPLETED", "variants": "5"}, "variants"),  # strict
    ({"status": "COMPLETED", "variants": -1}, "variants"),
])
def test_job_result_poison(fields, reason):
    body = json.dumps({"version": 1, "job_id": JOB, "user_id": USER, **fields})
    with pytest.raises(PoisonMessage) as exc:
        M.JobResult.parse(body)
    assert reason in exc.value.reason


def test_archive_request_rejects_whole_job_result():
    # The archive state machine must publish only {version, job_id, user_id}, not its whole input.
    body = M.JobResult(job_id=JOB, user_id=USER, status="COMPLETED", variants=1).to_json()
    with pytest.raises(PoisonMessage, match="Extra inputs"):
        M.ArchiveRequest.parse(body)


def test_sqs_body_raw_and_enveloped():
    raw = json.dumps(request())
    assert M.sqs_body({"body": raw}) == raw                 # Lambda event record
    assert M.sqs_body({"Body": raw}) == raw                 # boto3 receive_message
    assert M.sqs_body({"body": envelope(raw)}) == raw
    assert M.parse_record({"body": envelope(raw)}, M.JobRequest).job_id == JOB
    # a JSON body that merely has a "Message" field is not an envelope
    lookalike = json.dumps({"Message": "hi"})
    assert M.unwrap_sns(lookalike) == lookalike
    with pytest.raises(PoisonMessage):
        M.sqs_body({"nobody": 1})
    with pytest.raises(PoisonMessage):
        M.parse_record({"body": envelope("garbage")}, M.JobRequest)


def s3_event(key: str, name: str = "ObjectRestore:Completed", full: bool = False) -> str:
    rec = {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
           "eventTime": "2026-11-20T12:00:00.000Z", "eventName": name,
           "s3": {"s3SchemaVersion": "1.0", "configurationId": "restore-completed",
                  "bucket": {"name": "gas-results", "arn": "arn:aws:s3:::gas-results"},
                  "object": {"key": key, "size": 10, "eTag": "abc"}}}
    if full:  # what real S3 adds and moto leaves out
        rec["userIdentity"] = {"principalId": "AWS:x"}
        rec["glacierEventData"] = {"restoreEventData": {"lifecycleRestorationExpiryTime": "x",
                                                         "lifecycleRestoreStorageClass": "GLACIER"}}
        rec["s3"]["object"]["sequencer"] = "0055AED6DCD90281E5"
    return json.dumps({"Records": [rec]})


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("wrap", [False, True])
def test_restore_events(full, wrap):
    # moto quote_plus-encodes the whole key ('/' -> %2F); real S3 URL-encodes it too
    key = f"{USER}/{JOB}/my_file-1.vcf.gz"
    body = s3_event(quote_plus(key), full=full)
    events = M.restore_events({"body": envelope(body) if wrap else body})
    assert len(events) == 1
    ev = events[0]
    assert (ev.bucket, ev.user_id, ev.job_id) == ("gas-results", USER, JOB)
    assert ev.key == key


def test_restore_events_skip_test_event_and_other_events():
    test_event = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent",
                             "Time": "2026-11-20T12:00:00.000Z", "Bucket": "gas-results"})
    assert M.restore_events(envelope(test_event)) == []
    assert M.restore_events(s3_event(f"{USER}/{JOB}/a.vcf", name="ObjectCreated:Put")) == []
    assert len(M.s3_events(s3_event(f"{USER}/{JOB}/a.vcf", name="ObjectCreated:Put"))) == 1


@pytest.mark.parametrize("body,reason", [
    ("{", "not JSON"),
    (json.dumps({"foo": 1}), "no Records"),
    (json.dumps({"Records": [{"eventName": "ObjectRestore:Completed"}]}), "malformed"),
    (s3_event("elsewhere/key.vcf"), "restored object"),
    (s3_event(quote_plus(f"{USER}/{JOB}/my file.vcf")), "unsafe file name"),  # not a key we write
])
def test_restore_events_poison(body, reason):
    with pytest.raises(PoisonMessage, match=reason):
        M.restore_events(body)
