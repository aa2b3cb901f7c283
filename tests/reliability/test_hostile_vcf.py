"""Hostile VCFs (tests/data/bad_vcf/make_corpus.py `HOSTILE_CASES`) through `gas annotate` and the worker.

Refused input: one line `gas: error: line N: ...` on stderr, exit 1, no traceback, no output but
`NAME.log`; in the worker the job is FAILED with that reason, the input is kept, the message is
deleted (never redelivered, nothing in the DLQ) and the same worker goes on to the next job.
Accepted input: markup and unusual Unicode in free-text fields come out **verbatim** in the
annotated VCF, the Parquet tables and the summary (they are data files, not HTML; the reader has
already refused every C0 control character, so no output can carry a terminal escape or break a
line); the CSQ field percent-encodes what VCF forbids inside INFO values. Renderers escape: the
email's HTML is checked here (notify), the web app's pages by the UI's own tests.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from annotator.engine.vcf import open_vcf
from gas import aws
from gas.cli import main
from tests.data.bad_vcf.make_corpus import HOSTILE_CASES, HostileCase
from tests.e2e.stackproc import ROOT
from tests.reliability.harness import full_run

pytest_plugins = ["tests.integration.aws_fixtures"]

ACCEPTED = [c for c in HOSTILE_CASES if c.accepted]


def _param(c: HostileCase):
    return pytest.param(c, id=c.name, marks=[pytest.mark.reliability_slow] if c.slow else [])


def annotate(tmp_path: Path, case: HostileCase, tiny: dict) -> tuple[int, str, str, Path, Path]:
    src = tmp_path / "in" / case.filename
    src.parent.mkdir()
    src.write_bytes(case.data)
    out = tmp_path / "out"
    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        rc = main(["annotate", str(src), "-o", str(out), "--genome", str(tiny["bundle"]),
                   "--cache-dir", str(tiny["cache"])])
    return rc, o.getvalue(), e.getvalue(), src, out


def stem(case: HostileCase) -> str:
    name = case.filename
    for suffix in (".gz", ".vcf"):
        name = name.removesuffix(suffix)
    return name


@pytest.mark.parametrize("case", [_param(c) for c in HOSTILE_CASES])
def test_cli_refuses_with_one_line_or_keeps_strings_verbatim(tmp_path: Path, case: HostileCase, tiny: dict) -> None:
    rc, out, err, _, outdir = annotate(tmp_path, case, tiny)
    if not case.accepted:
        assert rc == 1 and out == ""
        assert err.count("\n") == 1 and err.startswith("gas: error: "), err
        prefix = f"gas: error: line {case.line_no}: " if case.line_no else "gas: error: "
        assert err.startswith(prefix) and case.fragment in err, err
        assert "Traceback" not in err
        assert sorted(p.name for p in outdir.iterdir()) == [f"{stem(case)}.log"]   # no partial output
        return
    assert rc == 0, err
    name = stem(case)
    assert sorted(p.name for p in outdir.iterdir()) == sorted(
        f"{name}{s}" for s in (".annot.vcf.gz", ".parquet", ".transcripts.parquet", ".summary.json", ".log"))
    vcf_out = outdir / f"{name}.annot.vcf.gz"
    text = gzip.decompress(vcf_out.read_bytes()).decode("utf-8")
    for s in case.verbatim:
        assert s in text, s
    with open_vcf(vcf_out) as r:                 # the output reads back: same records, no broken lines
        assert sum(c.n_records for c in r.chunks()) == case.records
    variants = pd.read_parquet(outdir / f"{name}.parquet")
    if case.ids:
        assert sorted(set(variants["id"])) == sorted(case.ids)
    json.loads((outdir / f"{name}.summary.json").read_text())


@pytest.mark.parametrize("name", ["markup_in_pos", "ansi_color_in_id", "utf16le_bom", "gzip_bomb_of_zeros"])
def test_cli_as_a_process_exit_code_and_no_traceback(tmp_path: Path, name: str, tiny: dict) -> None:
    case = next(c for c in HOSTILE_CASES if c.name == name)
    src = tmp_path / case.filename
    src.write_bytes(case.data)
    p = subprocess.run([sys.executable, "-m", "gas.cli", "annotate", str(src), "-o", str(tmp_path / "out"),
                        "--genome", str(tiny["bundle"]), "--cache-dir", str(tiny["cache"])],
                       capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.startswith(f"gas: error: line {case.line_no}: ") and p.stderr.count("\n") == 1, p.stderr
    assert "Traceback" not in p.stderr


# ----------------------------------------------------------------------------- through the worker

@pytest.fixture
def wstack(gas_aws, tiny, monkeypatch):
    monkeypatch.setenv("GAS_CACHE_DIR", str(tiny["cache"]))
    gas_aws.settings = dataclasses.replace(gas_aws.settings, genome=str(tiny["bundle"]))
    return gas_aws


def test_worker_fails_each_hostile_job_cleanly_and_keeps_going(wstack, tiny) -> None:
    """Every case as one job, one worker run: refused ones FAILED with the reader's line, accepted
    ones COMPLETED with the strings verbatim; no retry, no DLQ, the input kept; then the emails
    (notify handler) escape every string in their HTML."""
    from annotator import worker
    from annotator.jobrun import RunConfig
    from gas import jobs as J
    from gas.jobs import Status
    from gas.messages import JobRequest
    from gas.store import JobStore
    from gas.users import UserStore

    s = wstack.settings
    cases = [c for c in HOSTILE_CASES if full_run() or not c.slow]
    user = UserStore(s).add("mallory", "mallory@example.org", "premium")
    store = JobStore(s)
    jobs: dict[str, tuple[HostileCase, J.Job]] = {}
    for c in cases:
        job_id = J.new_job_id()
        from gas.storage import input_key
        key = input_key(user.user_id, job_id, c.filename)
        wstack.s3.put_object(Bucket=s.inputs_bucket, Key=key, Body=c.data)
        job = J.new_job(user_id=user.user_id, input_file=c.filename, input_key=key, input_size=len(c.data),
                        job_id=job_id)
        assert store.create(job)
        wstack.sns.publish(TopicArn=wstack.topics["job_requests_topic"], Message=JobRequest(
            job_id=job_id, user_id=user.user_id, input_bucket=s.inputs_bucket, input_key=key, genome="tiny").to_json())
        jobs[job_id] = (c, job)

    w = worker.build(s, "w-hostile", config=RunConfig(heartbeat_every_s=5))
    counts = w.run(once=True)                        # one worker, every job, no crash
    refused = sum(1 for c in cases if not c.accepted)
    assert counts == {"failed": refused, "completed": len(cases) - refused}, counts

    for job_id, (c, job) in jobs.items():
        got = store.get(job_id)
        wstack.s3.head_object(Bucket=s.inputs_bucket, Key=job.input_key)   # input kept
        if not c.accepted:
            assert got.status == Status.FAILED, (c.name, got)
            assert c.fragment in got.error and "\n" not in got.error, (c.name, got.error)
            if c.line_no:
                assert got.error.startswith(f"line {c.line_no}: "), got.error
            continue
        assert got.status == Status.COMPLETED and got.variants == c.records, (c.name, got)
        vcf_key = next(k for k in got.result_keys if k.endswith(".annot.vcf.gz"))
        text = gzip.decompress(wstack.s3.get_object(Bucket=s.results_bucket, Key=vcf_key)["Body"].read()).decode()
        for v in c.verbatim:
            assert v in text, (c.name, v)
        if c.ids:
            pq = next(k for k in got.result_keys if k.endswith(".parquet") and ".transcripts." not in k)
            ids = pd.read_parquet(io.BytesIO(wstack.s3.get_object(Bucket=s.results_bucket, Key=pq)["Body"].read()))["id"]
            assert sorted(set(ids)) == sorted(c.ids), c.name

    for q in ("requests_queue",):                     # nothing left to redeliver, nothing dead-lettered
        for url in (wstack.queues[q], wstack.dlqs[q]):
            a = wstack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            assert a == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}, (url, a)

    # the emails: one per job, every hostile string escaped in the HTML
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    from tests.reliability.harness import handler_event, lambda_context, load_function
    aws.client("sesv2", region=s.region).create_email_identity(EmailIdentity=s.sender_email)
    notify = load_function("notify")
    msgs = wstack.receive("results_queue", max_messages=10)
    while True:
        more = wstack.receive("results_queue", max_messages=10)
        if not more:
            break
        msgs += more
    assert len(msgs) == len(jobs)
    out = notify(handler_event(msgs, wstack.sqs, wstack.queues["results_queue"]), lambda_context())
    assert out == {"batchItemFailures": []}
    sent = ses_backends[DEFAULT_ACCOUNT_ID][s.region].sent_messages
    assert len(sent) == len(jobs)
    bodies = [m.body for m in sent]
    for body in bodies:
        for raw in ("<script", "<svg", "<img"):
            assert raw not in body, (raw, body[:800])
        assert "\x1b" not in body and "\u202e" not in body
    assert any("&lt;img src=x onerror=alert(1)&gt;" in b for b in bodies)            # the file name, escaped
    assert any("&lt;script&gt;alert(document.cookie)&lt;/sc" in b for b in bodies)   # a failure reason, escaped
