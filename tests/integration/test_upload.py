"""The browser path over real HTTP: a moto server on 127.0.0.1, the presigned POST form posted with
`requests` the way the upload component's XMLHttpRequest does (fields first, file last, an
Origin header), then `finish_upload`; and the inputs bucket's CORS rule as a browser meets it."""
from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from gas import aws, storage
from gas.local.provision import provision
from gas.store import JobStore
from gas.submit import NotAVcf, TooLarge, finish_upload, start_upload
from gas.users import User, UserStore

pytest_plugins = ["tests.integration.aws_fixtures"]

VCF = b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t5\t.\tA\tG\t.\t.\t.\n"
UI = "http://127.0.0.1:8501"   # the template's AppUrl as `gas up` sets it (run_stack: 127.0.0.1:<ui_port>)


def alice(plan: str = "free") -> User:
    user = UserStore().add("alice", "alice@example.org", plan)
    assert user is not None
    return user


def browser_post(ticket: Any, data: bytes, origin: str = UI) -> requests.Response:
    """multipart/form-data with the policy fields first and the file last, as the component sends."""
    return requests.post(ticket.url, data=ticket.fields, files={"file": (ticket.filename, data)},
                         headers={"Origin": origin}, timeout=10)


def exists(env: Any, key: str) -> bool:
    try:
        env.s3.head_object(Bucket=env.settings.inputs_bucket, Key=key)
    except ClientError:
        return False
    return True


def test_presigned_post_then_finish_creates_one_job_and_one_request(gas_moto_server: Any) -> None:
    env, user = gas_moto_server, alice()
    data = gzip.compress(VCF * 200)
    ticket = start_upload(user, "sample.vcf.gz", len(data), data[:65536], settings=env.settings)
    assert ticket.url.startswith(env.endpoint) and ticket.fields["key"] == ticket.key
    assert not exists(env, ticket.key) and env.receive("requests_queue") == []  # nothing yet

    r = browser_post(ticket, data)
    assert r.status_code == 204, r.text
    job = finish_upload(user, ticket, settings=env.settings)
    assert job.status == "PENDING" and job.input_key == ticket.key and job.input_size == len(data)
    [msg] = env.receive("requests_queue")
    body = json.loads(msg["Body"])
    request = json.loads(body["Message"]) if "Message" in body else body
    assert (request["job_id"], request["user_id"], request["input_key"]) == (job.job_id, user.user_id, ticket.key)

    assert finish_upload(user, ticket, settings=env.settings) == job  # idempotent
    assert env.receive("requests_queue") == []
    assert [j.job_id for j in JobStore(env.settings).iter_for_user(user.user_id)] == [job.job_id]


def test_a_non_vcf_object_is_deleted_and_refused(gas_moto_server: Any) -> None:
    env, user = gas_moto_server, alice()
    ticket = start_upload(user, "sample.vcf", len(VCF), VCF, settings=env.settings)  # the head looked fine
    assert browser_post(ticket, b"\x89PNG\r\n\x1a\n" + b"\x00" * 500).status_code == 204
    with pytest.raises(NotAVcf):
        finish_upload(user, ticket, settings=env.settings)
    assert not exists(env, ticket.key)
    assert list(JobStore(env.settings).iter_for_user(user.user_id)) == [] and env.receive("requests_queue") == []


def test_an_oversized_object_is_deleted_and_refused(gas_moto_server: Any) -> None:
    """Real S3 refuses this POST (content-length-range); moto stores it, finish_upload does not."""
    env, user = gas_moto_server, alice()
    settings = dataclasses.replace(env.settings, free_upload_limit_bytes=200)
    ticket = start_upload(user, "sample.vcf", 150, VCF, settings=settings)  # the browser under-declared
    big = VCF + b"#" * 1000
    assert storage.check_post_policy(ticket.fields, settings.inputs_bucket, len(big)) == "EntityTooLarge"
    assert browser_post(ticket, big).status_code == 204  # moto 5.2 does not enforce the policy
    with pytest.raises(TooLarge) as info:
        finish_upload(user, ticket, settings=settings)
    assert "the free plan accepts up to 200 bytes" in info.value.reason
    assert not exists(env, ticket.key) and list(JobStore(settings).iter_for_user(user.user_id)) == []


# ----------------------------------------------------------------------------- CORS

@pytest.fixture
def stack_for_ui(moto_server_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """template.yaml provisioned the way `gas up --ui-port 8765` does (AppUrl = its origin)."""
    def up(origin: str) -> tuple[str, Any]:
        requests.post(f"{moto_server_endpoint}/moto-api/reset", timeout=5).raise_for_status()
        prov = provision(moto_server_endpoint, parameters={"AppUrl": origin})
        s3 = boto3.client("s3", region_name=prov.region, endpoint_url=moto_server_endpoint,
                          config=aws.client_config("s3"))
        return prov.ref("InputsBucket"), s3
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    try:
        yield up
    finally:
        requests.post(f"{moto_server_endpoint}/moto-api/reset", timeout=5)


def preflight(url: str, origin: str) -> requests.Response:
    """What a browser sends before an XHR POST with upload progress listeners (not a simple request)."""
    return requests.options(url, timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})


@pytest.mark.parametrize("ui_port", [8501, 8765])
def test_cors_lets_the_apps_origin_post_and_nobody_else(stack_for_ui: Any, ui_port: int) -> None:
    origin = f"http://127.0.0.1:{ui_port}"
    bucket, s3 = stack_for_ui(origin)
    [rule] = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert rule["AllowedOrigins"] == [origin] and rule["AllowedMethods"] == ["POST"]
    post = s3.generate_presigned_post(bucket, "u1/" + "0" * 32 + "/a.vcf",
                                      Conditions=[["content-length-range", 1, 1000]], ExpiresIn=60)

    ok = preflight(post["url"], origin)
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == origin
    assert ok.headers["Access-Control-Allow-Methods"] == "POST"
    assert ok.headers["Access-Control-Allow-Headers"] == "*"
    assert ok.headers["Access-Control-Max-Age"] == "3000"

    r = requests.post(post["url"], data=post["fields"], files={"file": ("a.vcf", VCF)},
                      headers={"Origin": origin}, timeout=10)
    assert r.status_code == 204 and r.headers["Access-Control-Allow-Origin"] == origin

    for other in ("http://evil.example", f"http://localhost:{ui_port}", "http://127.0.0.1:9"):
        assert preflight(post["url"], other).status_code == 403  # the browser never sends the POST
