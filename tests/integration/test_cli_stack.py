"""The user-facing CLI (and gas.client) against a real embedded stack.

The stack runs in this process (`start_stack`: moto on 127.0.0.1, template.yaml provisioned, the
functions' pollers, so notify really sends). One annotator worker runs as a child process, like
`gas up` starts it, with GAS_GENOME=<tiny GFF3 bundle> and GAS_CACHE_DIR added to the stack's
environment. The test writes ``stack.json`` itself (pid = this process), so the CLI finds the
stack exactly as it finds one started by `gas up`. CLI calls go through `gas.cli.main` (stdout/
stderr captured) plus real subprocesses for the exit codes.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from gas.cli import EXIT_FAILED, EXIT_NO_STACK, main
from gas.local.outbox import OutboxWriter, read_outbox
from tests.integration.tinygenome import write_vcf

ROOT = Path(__file__).resolve().parents[2]
FREE_LIMIT = 2000  # bytes: the tiny VCFs fit, the padded one does not


@pytest.fixture(scope="module")
def stack(tiny, tmp_path_factory):
    from gas import aws
    from gas.local.stack import STACK_FILE, start_stack

    data = tmp_path_factory.mktemp("gasdata")
    st = start_stack(parameters={"FreeUploadLimitBytes": FREE_LIMIT, "ArchiveDelaySeconds": 3600},
                     poll_wait_s=1)
    worker = None
    try:
        env = {**os.environ, "GAS_GENOME": str(tiny["bundle"]), "GAS_CACHE_DIR": str(tiny["cache"]),
               "GAS_LOG_LEVEL": "WARNING"}
        worker = subprocess.Popen([sys.executable, "-m", "annotator.worker", "--worker-id", "w-cli"],
                                  env=env, cwd=str(ROOT))
        (data / STACK_FILE).write_text(json.dumps({
            "endpoint": st.endpoint, "pid": os.getpid(), "started_at": time.time(), "env": st.env,
            "children": {"worker-0": worker.pid}, "cloud_only": []}))
        yield {"stack": st, "data": data, "worker": worker}
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=3)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        st.stop()
        aws.reset_clients()


def gas(stack, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([*args, "--data-dir", str(stack["data"])])
    return rc, out.getvalue(), err.getvalue()


def vcf(path: Path, seq: str, positions=(160, 250, 2000), pad: int = 0) -> Path:
    records = []
    for pos in positions:
        ref = seq[pos - 1]
        records.append(f"1\t{pos}\t.\t{ref}\t{'G' if ref != 'G' else 'C'}\t50\tPASS\tDP=5")
    write_vcf(path, records)
    if pad:  # grow the header, keep it a valid VCF
        text = path.read_text().split("\n", 1)
        path.write_text(text[0] + "\n" + "".join(f"##comment=pad{i:06d}\n" for i in range(pad)) + text[1])
    return path


@pytest.fixture(scope="module")
def users(stack):
    made = {}
    for name, plan in (("alice", "free"), ("bob", "free")):
        rc, out, err = gas(stack, "users", "add", name, "--email", f"{name}@example.org", "--plan", plan, "--json")
        assert rc == 0, err
        made[name] = json.loads(out)
    return made


@pytest.fixture(scope="module")
def done(stack, users, tiny, tmp_path_factory):
    path = vcf(tmp_path_factory.mktemp("in") / "sample.vcf", tiny["seq"])
    t0 = time.monotonic()
    rc, out, err = gas(stack, "submit", str(path), "--user", "alice", "--wait", "--json", "--timeout", "30")
    assert rc == 0, err
    job = json.loads(out)
    job["_elapsed"] = time.monotonic() - t0
    return job


def inputs_count(stack) -> int:
    from gas import aws
    from gas.settings import Settings
    return aws.s3().list_objects_v2(Bucket=Settings.from_env().inputs_bucket).get("KeyCount", 0)


def job_count(stack, user_id: str) -> int:
    from gas.store import JobStore
    return sum(1 for _ in JobStore().iter_for_user(user_id))


# ----------------------------------------------------------------------------- tests

def test_users_add_refuses_a_taken_name(stack, users):
    assert users["alice"]["plan"] == "free" and users["alice"]["email"] == "alice@example.org"
    rc, out, err = gas(stack, "users", "add", "ALICE", "--email", "other@example.org")
    assert rc == EXIT_FAILED and out == ""
    assert err.strip() == "gas: error: user name 'ALICE' is taken"
    rc, _, err = gas(stack, "users", "add", "carol", "--email", "not-an-address")
    assert rc == EXIT_FAILED and "invalid user" in err and "\n" == err[-1] and err.count("\n") == 1


def test_submit_wait_completes_with_the_variant_count(done, users):
    assert done["status"] == "COMPLETED" and done["variants"] == 3 and done["progress"] == 1.0
    assert done["user"] == "alice" and done["user_id"] == users["alice"]["user_id"]
    assert done["input_file"] == "sample.vcf" and done["results"] == "available" and done["error"] is None


def test_owner_reads_job_jobs_and_results(stack, done, tiny, tmp_path):
    rc, out, err = gas(stack, "job", done["job_id"], "--user", "alice", "--json")
    assert rc == 0, err
    job = json.loads(out)
    for k in ("job_id", "user", "status", "progress", "input_file", "submitted_at", "completed_at",
              "variants", "error", "results"):
        assert k in job
    assert job["status"] == "COMPLETED" and job["completed_at"] >= job["submitted_at"]

    # a second job, without --wait: PENDING at once, listed first
    second = vcf(tmp_path / "second.vcf.txt", tiny["seq"], positions=(160,))
    rc, out, err = gas(stack, "submit", str(second), "--user", "alice", "--json")
    assert rc == 0, err
    job2 = json.loads(out)
    assert job2["status"] == "PENDING" and job2["input_file"] == "second.vcf.txt"
    rc, out, _ = gas(stack, "jobs", "--user", "alice", "--json")
    listed = json.loads(out)
    assert [j["job_id"] for j in listed] == [job2["job_id"], done["job_id"]]

    # results for the owner: the NAME.parquet
    dest = tmp_path / "out" / "res.parquet"
    rc, out, err = gas(stack, "results", done["job_id"], "--user", "alice", "-o", str(dest))
    assert rc == 0, err and out.strip() == str(dest)
    df = pd.read_parquet(dest)
    assert len(df) >= 3

    # the Python client gives the same
    from gas.client import Client
    c = Client(stack["data"], user="alice")
    assert list(c.jobs()["job_id"]) == [job2["job_id"], done["job_id"]]
    assert len(c.results(done["job_id"])) == len(df)
    finished = c.wait(job2["job_id"], timeout=30)
    assert finished["status"] == "COMPLETED" and finished["variants"] == 1

    # archived results are refused with the upgrade hint
    from gas.store import JobStore
    assert JobStore().set_results_state(job2["job_id"], "available", "archived", archived_at=finished["completed_at"])
    rc, _, err = gas(stack, "results", job2["job_id"], "--user", "alice", "-o", str(tmp_path / "x.parquet"))
    assert rc == EXIT_FAILED
    assert err.strip() == "gas: error: results are archived; upgrade to premium to restore them"
    assert not (tmp_path / "x.parquet").exists()


def test_another_users_job_looks_missing(stack, done, tmp_path):
    rc, out, err = gas(stack, "job", done["job_id"], "--user", "bob", "--json")
    assert (rc, out) == (EXIT_FAILED, "") and err.strip() == f"gas: error: no such job: {done['job_id']}"
    missing = "0" * 32
    rc, _, err_missing = gas(stack, "job", missing, "--user", "bob")
    assert rc == EXIT_FAILED and err_missing.strip() == f"gas: error: no such job: {missing}"
    rc, _, err = gas(stack, "results", done["job_id"], "--user", "bob", "-o", str(tmp_path / "r.parquet"))
    assert rc == EXIT_FAILED and "no such job" in err and not (tmp_path / "r.parquet").exists()
    rc, out, _ = gas(stack, "jobs", "--user", "bob", "--json")
    assert json.loads(out) == []
    # without --user (operator view) the job is readable
    rc, out, _ = gas(stack, "job", done["job_id"], "--json")
    assert rc == 0 and json.loads(out)["user"] == "alice"


def test_non_vcf_and_oversized_are_refused_before_anything_exists(stack, users, tiny, tmp_path):
    bob = users["bob"]["user_id"]
    before = (inputs_count(stack), job_count(stack, bob))
    junk = tmp_path / "notes.vcf"
    junk.write_text("hello, this is not a VCF\n")
    rc, out, err = gas(stack, "submit", str(junk), "--user", "bob", "--wait")
    assert rc == EXIT_FAILED and out == "" and "does not look like a VCF" in err

    big = vcf(tmp_path / "big.vcf", tiny["seq"], pad=200)
    assert big.stat().st_size > FREE_LIMIT
    rc, out, err = gas(stack, "submit", str(big), "--user", "bob", "--json")
    assert rc == EXIT_FAILED and out == ""
    assert "the free plan accepts up to" in err and "upgrade to premium" in err

    rc, _, err = gas(stack, "submit", str(tmp_path / "absent.vcf"), "--user", "bob")
    assert rc == EXIT_FAILED and "no such file" in err
    rc, _, err = gas(stack, "submit", str(junk), "--user", "nobody")
    assert rc == EXIT_FAILED and "no such user: nobody" in err
    assert (inputs_count(stack), job_count(stack, bob)) == before


def test_outbox_has_one_email_for_the_job(stack, done, users):
    writer = OutboxWriter(stack["data"])
    deadline = time.monotonic() + 15
    mails: list[dict] = []
    while time.monotonic() < deadline:
        writer.sync()
        mails = [m for m in read_outbox(stack["data"]) if done["job_id"] in m["text"]]
        if mails:
            break
        time.sleep(0.3)
    assert len(mails) == 1, read_outbox(stack["data"])
    mail = mails[0]
    assert mail["to"] == "alice@example.org" and mail["from"] and "sample.vcf" in mail["subject"]
    assert mail["date"] and "<" not in mail["text"]
    n = len(read_outbox(stack["data"]))
    OutboxWriter(stack["data"]).sync()  # a fresh writer too: what is on disk is not written again
    assert len(read_outbox(stack["data"])) == n
    rc, out, _ = gas(stack, "outbox", "--json")
    listed = json.loads(out)
    assert rc == 0 and [m["message_id"] for m in listed] == [m["message_id"] for m in read_outbox(stack["data"])]


def test_exit_codes_in_a_real_process(stack, done, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GAS_", "MOTO_"))}
    base = [sys.executable, "-m", "gas.cli"]
    r = subprocess.run([*base, "job", done["job_id"], "--user", "alice", "--json", "--data-dir", str(stack["data"])],
                       env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "COMPLETED"
    r = subprocess.run([*base, "job", done["job_id"], "--user", "bob", "--data-dir", str(stack["data"])],
                       env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == EXIT_FAILED and r.stderr.strip() == f"gas: error: no such job: {done['job_id']}"
    r = subprocess.run([*base, "jobs", "--user", "alice", "--data-dir", str(tmp_path)],
                       env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == EXIT_NO_STACK and "no stack running" in r.stderr and r.stderr.count("\n") == 1
