"""The Submit page and the Python side of the upload component, run by streamlit's AppTest through
the real entry point (ui/app.py) against in-process moto with every resource of template.yaml.

AppTest cannot run the component's JavaScript. It can deliver what the JavaScript sends: the
component's trigger values travel as one JSON widget state (the "trigger aggregator"), which
`fire` builds the way the frontend does and hands to the next script run (AppTest's `_run`, the
one private call here). The browser's POST to S3 is played by a `put_object` of the same key; the
real presigned POST over HTTP is tests/integration/test_upload.py.
"""
from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from streamlit.components.v2.bidi_component.main import _make_trigger_id
from streamlit.testing.v1 import AppTest

from gas import storage
from gas.store import JobStore
from gas.users import User, UserStore
from ui import markdown
from ui.components import upload

pytest_plugins = ["tests.integration.aws_fixtures"]

APP = Path(__file__).resolve().parents[2] / "ui" / "app.py"
VCF = b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t5\t.\tA\tG\t.\t.\t.\n"
MiB = 1024 * 1024


# ----------------------------------------------------------------------------- harness

def add_user(name: str, plan: str = "free") -> User:
    user = UserStore().add(name, f"{name}@example.org", plan)
    assert user is not None
    return user


def submit_page(user: User | None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30)
    if user is not None:
        at.session_state["user_id"] = user.user_id
    at.run()
    if user is not None:
        at.switch_page("views/submit.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def uploaders(at: AppTest) -> list[Any]:
    return [e for e in at._tree if getattr(e, "type", "") == "bidi_component"
            and e.proto.component_name == "gas.upload"]


def component(at: AppTest) -> Any:
    [comp] = uploaders(at)
    return comp


def component_data(at: AppTest) -> dict[str, Any]:
    return json.loads(component(at).proto.json)


def fire(at: AppTest, event: str, value: Any) -> AppTest:
    """What the component's setTriggerValue(event, value) does: rerun with that trigger set."""
    states = at._tree.get_widget_states()
    trigger = states.widgets.add()
    trigger.id = _make_trigger_id(component(at).proto.id, "events")
    trigger.json_trigger_value = json.dumps([{"event": event, "value": value}])
    at = at._run(states)
    assert not at.exception, [e.value for e in at.exception]
    return at


def pick(at: AppTest, name: str, data: bytes, size: int | None = None) -> AppTest:
    return fire(at, "picked", {"name": name, "size": len(data) if size is None else size,
                               "head": base64.b64encode(data[:upload.HEAD_BYTES]).decode(), "pick": "1"})


def ticket(at: AppTest) -> Any:
    return at.session_state[upload.FLOW]["ticket"]


def texts(at: AppTest) -> str:
    parts: list[str] = []
    for kind in ("title", "markdown", "caption", "text", "info", "error", "success"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


def jobs_of(user: User) -> list:
    return list(JobStore().iter_for_user(user.user_id))


def requests(gas_aws: Any) -> list[dict]:
    return [json.loads(json.loads(m["Body"]).get("Message", m["Body"]))
            for m in gas_aws.receive("requests_queue", wait_s=0)]


def objects(gas_aws: Any) -> list[str]:
    return [o["Key"] for o in gas_aws.s3.list_objects_v2(Bucket=gas_aws.settings.inputs_bucket).get("Contents", [])]


# ----------------------------------------------------------------------------- the page

def test_free_user_sees_the_plan_limit_and_an_idle_uploader(gas_aws: Any) -> None:
    at = submit_page(add_user("alice"))
    assert at.title[0].value == "Submit a job"
    assert "Free plan: files up to 150.0 MiB; upgrade to premium for up to 5.0 GiB." in texts(at)
    assert "Genome: GRCh38" in texts(at)
    assert component_data(at) == {"form": None, "hint": "VCF or VCF.gz, up to 150.0 MiB", "seq": 0}
    assert at.session_state[upload.FLOW]["user_id"] == at.session_state["user_id"]


def test_premium_user_sees_the_premium_limit(gas_aws: Any) -> None:
    at = submit_page(add_user("bea", "premium"))
    assert "Premium plan: files up to 5.0 GiB." in texts(at) and "upgrade" not in texts(at)


def test_limits_come_from_the_settings(gas_aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from ui import session
    monkeypatch.setenv("GAS_FREE_UPLOAD_LIMIT_BYTES", str(10 * MiB))
    session.services.clear()
    try:
        at = submit_page(add_user("carl"))
        assert "Free plan: files up to 10.0 MiB" in texts(at)
    finally:
        session.services.clear()


def test_nobody_signed_in_gets_no_uploader(gas_aws: Any) -> None:
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.run()
    assert uploaders(at) == []


# ----------------------------------------------------------------------------- the flow

def test_pick_upload_finish_creates_one_job_and_one_request(gas_aws: Any) -> None:
    alice = add_user("alice")
    at = pick(submit_page(alice), "My sample.vcf", VCF)
    t = ticket(at)
    assert t.user_id == alice.user_id and t.key == f"{alice.user_id}/{t.job_id}/My_sample.vcf"
    # the browser gets the form of that ticket and nothing else; nothing exists yet
    form = component_data(at)["form"]
    assert form == {"ticket": t.job_id, "url": t.url, "fields": t.fields}
    assert form["fields"]["key"] == t.key
    assert storage.check_post_policy(form["fields"], gas_aws.settings.inputs_bucket, 150 * MiB + 1) == "EntityTooLarge"
    assert jobs_of(alice) == [] and objects(gas_aws) == []

    gas_aws.s3.put_object(Bucket=gas_aws.settings.inputs_bucket, Key=t.key, Body=VCF)  # the browser's POST
    at = fire(at, "uploaded", {"ticket": t.job_id, "ok": True, "status": 204, "error": ""})
    [job] = jobs_of(alice)
    assert job.job_id == t.job_id and job.status == "PENDING" and job.input_file == "My sample.vcf"
    assert [s.value for s in at.success] == [f"Job {job.job_id} submitted."]
    links = {p.proto.label: p.proto for p in at.get("page_link")}
    assert links["Open the job"].page == "job" and links["Open the job"].query_string == f"job={job.job_id}"
    assert links["All your jobs"].page == ""  # the jobs page is the default one, served at /
    assert ticket(at) is None and component_data(at)["form"] is None
    [req] = requests(gas_aws)
    assert (req["job_id"], req["input_key"]) == (job.job_id, t.key)

    # the same report again (a duplicated trigger, a rerun): ignored, still one job
    at = fire(at, "uploaded", {"ticket": t.job_id, "ok": True, "status": 204, "error": ""})
    assert len(jobs_of(alice)) == 1 and requests(gas_aws) == []
    at.run()
    assert [s.value for s in at.success] == [f"Job {job.job_id} submitted."]


def test_gzip_vcf_goes_through(gas_aws: Any) -> None:
    alice = add_user("alice")
    data = gzip.compress(VCF * 20)
    at = pick(submit_page(alice), "s.vcf.gz", data)
    t = ticket(at)
    gas_aws.s3.put_object(Bucket=gas_aws.settings.inputs_bucket, Key=t.key, Body=data)
    at = fire(at, "uploaded", {"ticket": t.job_id, "ok": True, "status": 204})
    assert len(jobs_of(alice)) == 1 and at.success


@pytest.mark.parametrize("name,data,size,words", [
    ("big.vcf", VCF, 151 * MiB, "big.vcf is 151.0 MiB; the free plan accepts up to 150.0 MiB; upgrade to premium"),
    ("notes.txt", b"just some notes", None, "notes.txt does not look like a VCF"),
    ("empty.vcf", b"", None, "empty.vcf is empty"),
])
def test_refused_at_pick_before_anything_exists(gas_aws: Any, name: str, data: bytes, size: int | None,
                                                 words: str) -> None:
    alice = add_user("alice")
    at = pick(submit_page(alice), name, data, size)
    [err] = at.error
    assert markdown.escape(words) in err.value  # shown as escaped Markdown
    assert ticket(at) is None and component_data(at)["form"] is None
    assert jobs_of(alice) == [] and objects(gas_aws) == [] and requests(gas_aws) == []


def test_a_file_name_is_shown_as_text_never_as_markup(gas_aws: Any) -> None:
    at = pick(submit_page(add_user("alice")), "[click](http://evil.example) **x** <img src=x>.txt", b"nope")
    [err] = at.error
    # every Markdown/HTML-significant character arrives backslash-escaped: a literal, not markup
    assert re.search(r"(?<!\\)[\[\]()*<>!`_:]", err.value) is None, err.value
    assert err.value.startswith("\\[click\\]\\(http\\:\\/\\/evil\\.example\\) \\*\\*x\\*\\* \\<img")


def test_a_non_vcf_object_is_deleted_and_refused(gas_aws: Any) -> None:
    alice = add_user("alice")
    at = pick(submit_page(alice), "s.vcf", VCF)  # the start looked fine...
    t = ticket(at)
    gas_aws.s3.put_object(Bucket=gas_aws.settings.inputs_bucket, Key=t.key, Body=b"PK\x03\x04 a zip file")
    at = fire(at, "uploaded", {"ticket": t.job_id, "ok": True, "status": 204})  # ...the object is not
    [err] = at.error
    assert "does not look like a VCF" in err.value and "No job was created" in err.value
    assert objects(gas_aws) == [] and jobs_of(alice) == [] and requests(gas_aws) == []


def test_a_failed_upload_is_reported_in_words_and_cleaned_up(gas_aws: Any) -> None:
    alice = add_user("alice")
    at = pick(submit_page(alice), "s.vcf", VCF)
    t = ticket(at)
    at = fire(at, "uploaded", {"ticket": t.job_id, "ok": False, "status": 400,
                               "error": "EntityTooLarge: Your proposed upload exceeds the maximum allowed size"})
    [err] = at.error
    assert "did not reach storage" in err.value and "EntityTooLarge" in err.value
    assert ticket(at) is None and jobs_of(alice) == []


def test_the_next_user_in_the_same_tab_starts_afresh(gas_aws: Any) -> None:
    alice, bob = add_user("alice"), add_user("bob")
    at = pick(submit_page(alice), "s.vcf", VCF)
    t = ticket(at)
    gas_aws.s3.put_object(Bucket=gas_aws.settings.inputs_bucket, Key=t.key, Body=VCF)
    at = fire(at, "uploaded", {"ticket": t.job_id, "ok": True, "status": 204})
    assert at.success
    at = pick(at, "second.vcf", VCF)  # alice picks again, then signs out; bob signs in here
    at.session_state["user_id"] = bob.user_id
    at.run()
    assert not at.success and not at.error and t.job_id not in texts(at)
    assert at.session_state[upload.FLOW]["user_id"] == bob.user_id and ticket(at) is None
    assert component_data(at)["form"] is None
    # a report of alice's pending upload arriving now is not bob's to finish
    at = fire(at, "uploaded", {"ticket": t.job_id, "ok": True, "status": 204})
    assert jobs_of(bob) == [] and len(jobs_of(alice)) == 1


def test_a_report_for_another_ticket_is_ignored(gas_aws: Any) -> None:
    alice = add_user("alice")
    at = pick(submit_page(alice), "s.vcf", VCF)
    t = ticket(at)
    gas_aws.s3.put_object(Bucket=gas_aws.settings.inputs_bucket, Key=t.key, Body=VCF)
    at = fire(at, "uploaded", {"ticket": "0" * 32, "ok": True, "status": 204})
    assert ticket(at) == t and jobs_of(alice) == [] and not at.success and not at.error


# ----------------------------------------------------------------------------- handlers directly

def test_an_aws_hiccup_at_finish_keeps_the_ticket_for_a_retry(gas_aws: Any) -> None:
    alice = add_user("alice")
    state = upload.new_flow(alice.user_id)
    upload.on_picked(state, alice, {"name": "s.vcf", "size": len(VCF), "head": base64.b64encode(VCF).decode()})
    t = state["ticket"]
    gas_aws.s3.put_object(Bucket=gas_aws.settings.inputs_bucket, Key=t.key, Body=VCF)

    def flaky(user: User, ticket: Any) -> Any:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, "PutItem")
    upload.on_uploaded(state, alice, {"ticket": t.job_id, "ok": True}, finish=flaky)
    assert state["retry"] and state["ticket"] == t and "could not be confirmed" in state["error"]
    assert upload.component_data(state, "")["form"] is None  # never re-posted while retrying
    upload.confirm(state, alice)  # the "Try again" button
    assert state["job"]["job_id"] == t.job_id and state["ticket"] is None and not state["retry"]
    assert state["seq"] == 3


@pytest.mark.parametrize("payload", [None, "x", {"name": "a.vcf"}, {"name": "a.vcf", "size": -1},
                                     {"name": "a.vcf", "size": True}, {"name": 3, "size": 3},
                                     {"name": "a.vcf", "size": 3, "head": "***not base64***"},
                                     {"name": "a.vcf", "size": 3, "head": "A" * 200_000}])
def test_a_malformed_pick_report_is_refused_in_words(payload: Any) -> None:
    state = upload.new_flow("u1")
    called = []
    user = User(user_id="u1", name="u", email="u@example.org", created_at="2026-11-20T12:34:56.789Z")
    upload.on_picked(state, user, payload, start=lambda *a: called.append(a))
    assert called == [] and state["ticket"] is None and "choose it again" in state["error"]


def test_a_new_pick_abandons_the_unfinished_ticket(gas_aws: Any) -> None:
    alice = add_user("alice")
    state = upload.new_flow(alice.user_id)
    good = {"name": "s.vcf", "size": len(VCF), "head": base64.b64encode(VCF).decode()}
    upload.on_picked(state, alice, good)
    first = state["ticket"]
    gas_aws.s3.put_object(Bucket=gas_aws.settings.inputs_bucket, Key=first.key, Body=VCF)  # never finished
    upload.on_picked(state, alice, good)
    assert state["ticket"].job_id != first.job_id and objects(gas_aws) == []
