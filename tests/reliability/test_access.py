"""Access control outside the web app: another user's job id in every `gas` command that takes one,
hostile job ids, tampered presigned POST forms, expired and altered presigned GET URLs.

What moto (and so the embedded stack) does NOT enforce, measured here: presigned GET expiry,
signature and key binding (an expired or re-keyed URL answers 200), and POST policies (any key,
any size, after expiry: stored). So the refusals that matter locally are our own checks (ownership
before any read, `storage.check_post_policy`, `submit.finish_upload`'s check of the stored object);
what real S3 refuses is checked with a SigV4 oracle (tests/reliability/sigv4.py) on the exact URLs
and forms we generate.
"""
from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from gas import aws
from gas import jobs as J
from gas import storage as S
from gas.cli import EXIT_FAILED, build_parser, main
from gas.settings import Settings
from gas.store import JobStore
from gas.users import Plan, UserStore
from tests.reliability.sigv4 import check_post_signature, check_presigned_get

pytest_plugins = ["tests.integration.aws_fixtures"]

SECRET = "testing"     # the fake secret key of moto and the local stack
HOSTILE_IDS = ["../../etc/passwd", "' OR '1'='1", "0" * 32, "A" * 5000, "<script>alert(1)</script>",
               "%2e%2e%2f", "01A2" + "0" * 28, "*", ""]


# ----------------------------------------------------------------------------- CLI and client

@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The embedded stack in this process (no pollers, no workers) with a stack.json the CLI finds;
    alice owns one job in each state, bob owns none."""
    from gas.local.stack import STACK_FILE, start_stack
    data = tmp_path_factory.mktemp("gasdata")
    st = start_stack(pollers=False)
    try:
        (data / STACK_FILE).write_text(json.dumps({"endpoint": st.endpoint, "pid": os.getpid(), "started_at": time.time(),
                                                   "env": st.env, "children": {}, "cloud_only": []}))
        s = Settings.from_env()
        users = UserStore(s)
        alice = users.add("alice", "alice@example.org", Plan.FREE)
        users.add("bob", "bob@example.org", Plan.PREMIUM)
        store = JobStore(s)
        jobs = {}
        for state in ("PENDING", "RUNNING", "COMPLETED", "FAILED", "ARCHIVED"):
            job_id = J.new_job_id()
            job = J.new_job(user_id=alice.user_id, input_file="a.vcf", input_key=f"{alice.user_id}/{job_id}/a.vcf",
                            input_size=10, job_id=job_id)
            assert store.create(job)
            if state != "PENDING":
                assert store.claim(job_id, "w")
            if state in ("COMPLETED", "ARCHIVED"):
                keys = [S.result_key(alice.user_id, job_id, n) for n in ("a.parquet", "a.summary.json")]
                for k in keys:
                    aws.s3().put_object(Bucket=s.results_bucket, Key=k, Body=b"PAR1 alice's data")
                assert store.complete(job_id, "w", 1, keys)
            if state == "ARCHIVED":
                assert store.set_results_state(job_id, "available", "archived", archived_at=J.now_iso())
            if state == "FAILED":
                assert store.fail(job_id, "line 3: bad", worker_id="w")
            jobs[state] = job_id
        yield {"data": data, "jobs": jobs, "stack": st}
    finally:
        st.stop()
        aws.reset_clients()


def gas(local, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([*args, "--data-dir", str(local["data"])])
    return rc, out.getvalue(), err.getvalue()


def job_id_commands(tmp: Path) -> list[list[str]]:
    """Every `gas` subcommand with a job id argument, with its other required options filled in."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    out = []
    for name, p in sub.choices.items():
        dests = [a.dest for a in p._actions]
        if "job_id" not in dests:
            continue
        extra = []
        for a in p._actions:
            if a.required and a.option_strings and a.dest != "user":
                extra += [a.option_strings[-1], str(tmp / f"{name}.out")]
        out.append([name, "JOB", *extra])
    return out


def test_every_job_id_command_refuses_another_users_job_like_a_missing_one(local, tmp_path):
    commands = job_id_commands(tmp_path)
    assert {c[0] for c in commands} >= {"job", "results"}
    missing = J.new_job_id()
    checked = 0
    for cmd in commands:
        def run(job_id: str, user: str, cmd: list[str] = cmd) -> tuple[int, str, str]:
            return gas(local, *[job_id if a == "JOB" else a for a in cmd], "--user", user)
        rc_m, out_m, err_m = run(missing, "bob")
        assert rc_m == EXIT_FAILED and out_m == "" and err_m == f"gas: error: no such job: {missing}\n"
        for state, job_id in local["jobs"].items():
            rc, out, err = run(job_id, "bob")
            assert (rc, out, err.replace(job_id, missing)) == (rc_m, out_m, err_m), (cmd, state, err)
            checked += 1
        for bad in HOSTILE_IDS:
            rc, out, err = run(bad, "alice")
            assert rc == EXIT_FAILED and out == "" and err == f"gas: error: no such job: {bad}\n", (cmd, bad, err)
            assert "Traceback" not in err
        assert not any(p.name.startswith(cmd[0]) for p in tmp_path.iterdir())   # nothing written
    # the owner is served (so the refusals above are about ownership, not a broken command)
    rc, out, _ = gas(local, "job", local["jobs"]["COMPLETED"], "--user", "alice", "--json")
    assert rc == 0 and json.loads(out)["status"] == "COMPLETED"
    rc, _, err = gas(local, "results", local["jobs"]["COMPLETED"], "--user", "alice", "-o", str(tmp_path / "ok.parquet"))
    assert rc == 0 and (tmp_path / "ok.parquet").read_bytes() == b"PAR1 alice's data"
    rc, out, _ = gas(local, "jobs", "--user", "bob", "--json")
    assert rc == 0 and json.loads(out) == []
    from tests.reliability.harness import record
    record("access_cli", commands=[c[0] for c in commands], foreign_job_checks=checked,
           hostile_id_checks=len(HOSTILE_IDS) * len(commands), leaks=0)


def test_python_client_refuses_another_users_job(local):
    from gas.client import Client, NoSuchJob
    bob = Client(local["data"], user="bob")
    for job_id in local["jobs"].values():
        with pytest.raises(NoSuchJob, match=f"no such job: {job_id}"):
            bob.job(job_id)
        with pytest.raises(NoSuchJob):
            bob.results(job_id)


# ----------------------------------------------------------------------------- presigned POST

def _form(env, plan_limit: int, ttl: int = 60, user: str = "alice") -> dict:
    return S.presigned_post(user, J.new_job_id(), "in.vcf", max_bytes=plan_limit, ttl=ttl, settings=env.settings)


def _with_policy(fields: dict, mutate) -> dict:
    policy = S.post_policy(fields)
    mutate(policy)
    return {**fields, "policy": base64.b64encode(json.dumps(policy).encode()).decode()}


def test_tampered_presigned_post_is_refused_by_our_check_and_by_the_signature(gas_moto_server):
    env, s = gas_moto_server, gas_moto_server.settings
    free = s.free_upload_limit_bytes
    post = _form(env, free)
    f, bucket = post["fields"], s.inputs_bucket
    assert S.check_post_policy(f, bucket, 100) is None and check_post_signature(f, SECRET) is None
    bob_key = f"bob/{J.new_job_id()}/in.vcf"
    assert "key must equal" in S.check_post_policy({**f, "key": bob_key}, bucket, 100)            # other prefix
    assert "key must equal" in S.check_post_policy({**f, "key": "alice/../bob/x.vcf"}, bucket, 100)
    assert S.check_post_policy(f, bucket, free + 1) == "EntityTooLarge"                            # over the plan
    assert "bucket" in S.check_post_policy(f, "another-bucket", 100)
    later = datetime.now(UTC) + timedelta(seconds=61)
    assert S.check_post_policy(f, bucket, 100, now=later) == "Policy expired"                      # expired form
    assert check_post_signature(f, SECRET, now=later).endswith("Policy expired")
    # widening the policy itself (bigger range, starts-with key) breaks its signature: S3 refuses it
    wider = _with_policy(f, lambda p: p["conditions"].__setitem__(
        next(i for i, c in enumerate(p["conditions"]) if isinstance(c, list)), ["content-length-range", 1, 10**12]))
    assert S.check_post_policy(wider, bucket, free + 1) is None          # our evaluator trusts the policy...
    assert check_post_signature(wider, SECRET) == "SignatureDoesNotMatch"   # ...S3 checks its signature
    # premium's cap is the premium limit, not more
    premium = _form(env, s.premium_upload_limit_bytes)["fields"]
    assert S.check_post_policy(premium, bucket, s.premium_upload_limit_bytes + 1) == "EntityTooLarge"

    # what moto does with a tampered form (the reason for the checks above): it stores it
    r = requests.post(post["url"], data={**f, "key": bob_key}, files={"file": ("x.vcf", b"##fileformat=VCFv4.2\n")},
                      timeout=10)
    stored = env.s3.list_objects_v2(Bucket=bucket, Prefix="bob/").get("KeyCount", 0)
    from tests.reliability.harness import record
    record("access_post_tampering", moto_status=r.status_code, moto_stored_foreign_key=bool(stored),
           refused_by_check_post_policy=["other prefix", "traversal", "over plan", "other bucket", "expired"],
           refused_by_signature=["widened policy", "expired"])


def test_browser_upload_tampering_is_refused_when_the_job_is_created(gas_moto_server, monkeypatch):
    """The UI's path (gas.submit start_upload / finish_upload): whatever the browser sent to S3, the
    job is made only from the ticket's key and the object as stored, within the plan."""
    from gas import submit as SUB
    if not hasattr(SUB, "finish_upload"):
        pytest.skip("gas.submit has no browser upload path yet")
    import dataclasses
    env = gas_moto_server
    s = dataclasses.replace(env.settings, free_upload_limit_bytes=2000)
    users = UserStore(s)
    alice, bob = users.add("alice", "a@example.org", Plan.FREE), users.add("bob", "b@example.org", Plan.FREE)
    vcf = b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"

    ticket = SUB.start_upload(alice, "big.vcf", 100, vcf, settings=s)            # declares 100 bytes...
    form = ticket.form()
    big = vcf + b"##pad=" + b"x" * 5000 + b"\n"                                   # ...sends 5 kB (moto stores it)
    assert requests.post(form["url"], data=form["fields"], files={"file": ("big.vcf", big)}, timeout=10).ok
    with pytest.raises(SUB.TooLarge):
        SUB.finish_upload(alice, ticket, settings=s)
    assert S.head_input(ticket.key, settings=s) is None                           # refused object deleted
    assert JobStore(s).get(ticket.job_id) is None                                 # no job

    ticket = SUB.start_upload(alice, "moved.vcf", len(vcf), vcf, settings=s)
    form = ticket.form()
    elsewhere = f"{bob.user_id}/{J.new_job_id()}/moved.vcf"                       # the key field rewritten
    requests.post(form["url"], data={**form["fields"], "key": elsewhere}, files={"file": ("m.vcf", vcf)}, timeout=10)
    with pytest.raises(SUB.UploadFailed, match="did not arrive"):
        SUB.finish_upload(alice, ticket, settings=s)
    assert JobStore(s).get(ticket.job_id) is None

    ticket = SUB.start_upload(alice, "mine.vcf", len(vcf), vcf, settings=s)       # bob replays alice's ticket
    with pytest.raises(SUB.NotYours):
        SUB.finish_upload(bob, ticket, settings=s)
    forged = dataclasses.replace(ticket, key=f"{bob.user_id}/{ticket.job_id}/mine.vcf")   # or forges its key
    with pytest.raises(SUB.NotYours):
        SUB.finish_upload(alice, forged, settings=s)


# ----------------------------------------------------------------------------- presigned GET

def test_presigned_get_expires_and_is_bound_to_its_key(gas_moto_server):
    env, s = gas_moto_server, gas_moto_server.settings
    key = S.result_key("alice", J.new_job_id(), "a.parquet")
    other = S.result_key("bob", J.new_job_id(), "b.parquet")
    for k in (key, other):
        env.s3.put_object(Bucket=s.results_bucket, Key=k, Body=b"data of " + k.encode())
    url = S.presigned_get(key, settings=s, download_name="a.parquet")
    assert f"X-Amz-Expires={s.presigned_ttl_s}" in url and s.presigned_ttl_s <= S.MAX_PRESIGN_TTL_S
    assert check_presigned_get(url, SECRET) is None                                       # valid now
    after = datetime.now(UTC) + timedelta(seconds=s.presigned_ttl_s + 1)
    assert check_presigned_get(url, SECRET, now=after) == "AccessDenied: Request has expired"
    assert check_presigned_get(url.replace(key, other), SECRET) == "SignatureDoesNotMatch"   # re-keyed
    longer = url.replace(f"X-Amz-Expires={s.presigned_ttl_s}", "X-Amz-Expires=604800")
    assert check_presigned_get(longer, SECRET) == "SignatureDoesNotMatch"                    # lifetime stretched
    for ttl in (0, S.MAX_PRESIGN_TTL_S + 1):
        with pytest.raises(ValueError):
            S.presigned_get(key, ttl, settings=s)
    with pytest.raises(S.InvalidKey):
        S.presigned_get("alice/../bob/x", settings=s)
    short = S.presigned_get(key, 1, settings=s)
    time.sleep(2.1)
    moto_expired = requests.get(short, timeout=10).status_code
    moto_rekeyed = requests.get(url.replace(key, other), timeout=10).status_code
    from tests.reliability.harness import record
    record("access_presigned_get", ttl_s=s.presigned_ttl_s, max_ttl_s=S.MAX_PRESIGN_TTL_S,
           oracle={"expired": "refused", "re-keyed": "refused", "stretched": "refused"},
           moto_status={"expired": moto_expired, "re-keyed": moto_rekeyed})
