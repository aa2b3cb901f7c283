"""notify against moto: one email per job to the owner, duplicates, the Lambda handler, send failures.

moto keeps sent mail in-process only: SES v2 piggybacks on the v1 backend, whose
`sent_messages` holds (source, destinations, subject, body); for Simple content with an HTML part
moto stores the HTML as `body` (the text part is checked in tests/unit/test_emails.py).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import types
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from gas import notify, storage
from gas.jobs import new_job, new_job_id
from gas.messages import JobResult
from gas.store import JobStore
from gas.users import UserStore

pytest_plugins = ["tests.integration.aws_fixtures"]

ROOT = Path(__file__).resolve().parents[2]
OWNER = "7c1e5a0e-3b2f-4a39-9d7e-5f3b8f0c2a11"
OWNER_EMAIL = "owner@example.com"
SUMMARY = {"records": 350, "by_consequence": {"missense_variant": 40, "intron_variant": 120},
           "by_impact": {"HIGH": 0, "MODERATE": 40, "LOW": 10, "MODIFIER": 300}}


@pytest.fixture
def env(gas_aws):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    settings = gas_aws.settings
    boto3.client("sesv2", region_name=settings.region).create_email_identity(EmailIdentity=settings.sender_email)
    UserStore(settings).add("owner", OWNER_EMAIL, user_id=OWNER)
    backend = ses_backends[DEFAULT_ACCOUNT_ID][settings.region]
    return types.SimpleNamespace(aws=gas_aws, settings=settings, store=JobStore(settings),
                                 sent=backend.sent_messages)


def finished_job(env, status: str = "COMPLETED", *, input_file: str = "sample.vcf.gz",
                 summary: dict | None = SUMMARY, user_id: str = OWNER) -> JobResult:
    job_id = new_job_id()
    job = new_job(user_id=user_id, input_file=input_file, job_id=job_id,
                  input_key=storage.input_key(user_id, job_id, input_file), input_size=100)
    assert env.store.create(job)
    assert env.store.claim(job_id, "w1")
    keys = []
    if summary is not None:
        key = storage.result_key(user_id, job_id, "sample.summary.json")
        env.aws.s3.put_object(Bucket=env.settings.results_bucket, Key=key, Body=json.dumps(summary).encode())
        keys.append(key)
    if status == "COMPLETED":
        assert env.store.complete(job_id, "w1", 352, keys)
        return JobResult(job_id=job_id, user_id=user_id, status="COMPLETED", variants=352,
                         results_state="available")
    assert env.store.fail(job_id, "line 5: POS 'x' is not a positive integer", worker_id="w1")
    return JobResult(job_id=job_id, user_id=user_id, status="FAILED",
                     error="line 5: POS 'x' is not a positive integer")


def item(env, job_id: str) -> dict:
    return notify.read_job_item(env.store, job_id)


def test_completed_job_sends_one_email_to_the_owner(env):
    result = finished_job(env)
    notify.notify_job_result(result, env.settings)
    assert len(env.sent) == 1
    mail = env.sent[0]
    assert mail.source == env.settings.sender_email
    assert mail.destinations["ToAddresses"] == [OWNER_EMAIL]
    assert "sample.vcf.gz" in mail.subject
    assert "352" in mail.body and "missense_variant: 40" in mail.body and "MODERATE 40" in mail.body
    assert f"{env.settings.app_url}/job?id={result.job_id}" in mail.body
    assert "X-Amz-Signature" not in mail.body
    stored = item(env, result.job_id)
    assert stored["notified_at"] and stored["notify_message_id"] == mail.id


def test_same_message_twice_sends_one_email(env):
    result = finished_job(env)
    notify.notify_job_result(result, env.settings)
    notify.notify_job_result(result, env.settings)
    assert len(env.sent) == 1


def test_summary_found_by_prefix_and_missing_summary_tolerated(env):
    listed_nowhere = finished_job(env, summary=None)
    key = storage.result_key(OWNER, listed_nowhere.job_id, "x.summary.json")
    env.aws.s3.put_object(Bucket=env.settings.results_bucket, Key=key, Body=json.dumps(SUMMARY).encode())
    notify.notify_job_result(listed_nowhere, env.settings)
    assert "missense_variant: 40" in env.sent[-1].body

    missing = finished_job(env, summary=None)
    notify.notify_job_result(missing, env.settings)
    assert len(env.sent) == 2 and "summary not available" in env.sent[-1].body


def test_failed_job_email_and_owner_address_from_the_users_table(env):
    result = finished_job(env, "FAILED", input_file="<script>x</script>.vcf")
    notify.notify_job_result(result, env.settings)
    (mail,) = env.sent
    assert mail.destinations["ToAddresses"] == [OWNER_EMAIL]
    assert "The annotation failed: line 5: POS &#x27;x&#x27; is not a positive integer." in mail.body
    assert "<script>" not in mail.body


def test_unknown_job_or_user_raises(env):
    ghost = JobResult(job_id=new_job_id(), user_id=OWNER, status="COMPLETED", variants=1)
    with pytest.raises(notify.UnknownJob):
        notify.notify_job_result(ghost, env.settings)
    orphan = finished_job(env, user_id="nobody")
    with pytest.raises(notify.UnknownUser):
        notify.notify_job_result(orphan, env.settings)
    assert "notified_at" not in item(env, orphan.job_id)
    mismatch = finished_job(env)
    with pytest.raises(notify.UnknownJob):
        notify.notify_job_result(mismatch.model_copy(update={"user_id": "mallory"}), env.settings)
    assert env.sent == []


def test_send_failure_undoes_the_claim_and_raises(env):
    result = finished_job(env)
    ses = boto3.client("sesv2", region_name=env.settings.region)
    with Stubber(ses) as stub:
        stub.add_client_error("send_email", service_error_code="TooManyRequestsException",
                              service_message="Maximum sending rate exceeded.", http_status_code=429)
        with pytest.raises(ClientError):
            notify.notify_job_result(result, env.settings, ses=ses)
    assert env.sent == []
    assert "notified_at" not in item(env, result.job_id) and "notify_token" not in item(env, result.job_id)
    notify.notify_job_result(result, env.settings)  # the retry sends
    assert len(env.sent) == 1


def test_claim_is_single_and_release_is_only_ours(env):
    result = finished_job(env)
    assert notify.claim_notification(env.store, result.job_id, "t1")
    assert not notify.claim_notification(env.store, result.job_id, "t2")
    assert not notify.release_notification(env.store, result.job_id, "t2")
    assert notify.release_notification(env.store, result.job_id, "t1")
    assert not notify.claim_notification(env.store, new_job_id(), "t3")  # no such job: no item created
    assert notify.read_job_item(env.store, new_job_id()) is None


# ----------------------------------------------------------------------------- the Lambda handler

def _handler():
    spec = importlib.util.spec_from_file_location("gas_fn_notify_it", ROOT / "functions" / "notify" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _context():
    return types.SimpleNamespace(function_name="gas-notify", memory_limit_in_mb=256,
                                 invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:gas-notify",
                                 aws_request_id="c6af9ac6-7b61-11e6-9a41-93e812345678")


def event_for(result: JobResult, message_id: str = "m-1") -> dict:
    """events/notify.json's first record, carrying `result` in its SNS envelope."""
    record = json.loads((ROOT / "events" / "notify.json").read_text())["Records"][0]
    envelope = json.loads(record["body"])
    envelope["Message"] = result.to_json()
    body = json.dumps(envelope)
    return {"Records": [dict(record, messageId=message_id, body=body,
                             md5OfBody=hashlib.md5(body.encode()).hexdigest())]}


def test_handler_sends_one_email(env):
    pytest.importorskip("aws_lambda_powertools")
    app = _handler()
    event = event_for(finished_job(env))
    assert app.lambda_handler(event, _context()) == {"batchItemFailures": []}
    assert app.lambda_handler(event, _context()) == {"batchItemFailures": []}  # redelivery
    assert len(env.sent) == 1 and env.sent[0].destinations["ToAddresses"] == [OWNER_EMAIL]


def test_handler_reports_a_failed_send_and_the_retry_succeeds(env, monkeypatch):
    pytest.importorskip("aws_lambda_powertools")
    app = _handler()
    result = finished_job(env)
    event = event_for(result, "rec-1")

    def send_email(**kwargs):
        raise ClientError({"Error": {"Code": "MessageRejected", "Message": "no"}}, "SendEmail")

    failing = types.SimpleNamespace(send_email=send_email)
    with monkeypatch.context() as patch:  # not monkeypatch.undo(): that would drop gas_aws's env too
        patch.setattr(notify, "ses_client", lambda settings: failing)
        assert app.lambda_handler(event, _context()) == {"batchItemFailures": [{"itemIdentifier": "rec-1"}]}
    assert env.sent == [] and "notified_at" not in item(env, result.job_id)

    assert app.lambda_handler(event, _context()) == {"batchItemFailures": []}
    assert len(env.sent) == 1
