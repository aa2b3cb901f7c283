"""Issue 3's proof on the embedded stack: `kill -9` of a worker mid-job and the job still completes
exactly once.

`gas up --request-visibility 20` makes the requests queue's VisibilityTimeout 20 s and gives the
workers a matching stale-after (gas.local.stack.local_stale_after). A large synthetic chr20 VCF is
submitted; once the job is RUNNING with progress > 0 its worker is killed with SIGKILL. The stack's
supervisor restarts a worker, the message reappears after the visibility timeout, the new worker
re-claims the stale job (attempt 2) and completes it: one email, the five outputs, all rows.
"""
from __future__ import annotations

import gzip
import json
import os
import signal
import time
from pathlib import Path

import boto3
import pandas as pd
import pytest

from bench.anchor import FASTA_GZ
from tests.e2e.stackproc import gas, start, stop

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not FASTA_GZ.is_file(),
                                                   reason=f"{FASTA_GZ} (Debian vt-examples, GRCh37 chr20) not present")]
VISIBILITY_S = 20
VARIANTS = 600_000     # synthetic records, then REPEATS times over: a job long enough to be seen
REPEATS = 4            # mid-run and killed there. Progress is written every 2 s (jobrun.PROGRESS_EVERY_S);
                       # the 600k records alone took ~2 s by 2026-12-08 and the job was done unseen.


def data_lines(vcf: Path) -> int:
    with gzip.open(vcf, "rt") as f:
        return sum(1 for line in f if not line.startswith("#"))


@pytest.fixture(scope="module")
def big_vcf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bench.anchor import plain_fasta, repeated_vcf, synthetic_vcf
    d = tmp_path_factory.mktemp("vcf")
    return repeated_vcf(synthetic_vcf(d / "once.vcf.gz", plain_fasta(d), VARIANTS), d / "big.vcf.gz", REPEATS)


def test_kill_9_worker_mid_job_completes_exactly_once(tmp_path: Path, big_vcf: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "GAS_DATA_DIR": str(data)}
    env.pop("GAS_STALE_AFTER_S", None)
    t0 = time.monotonic()
    log = tmp_path / "up.log"
    proc = start(env, log, workers=1, extra=["--archive-delay", "3600", "--request-visibility", str(VISIBILITY_S)])
    timings = {"stack_ready": time.monotonic() - t0}
    try:
        info = json.loads((data / "stack.json").read_text())
        senv = info["env"]
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                region_name=senv["AWS_REGION"])
        ddb = session.client("dynamodb", endpoint_url=info["endpoint"])
        s3 = session.client("s3", endpoint_url=info["endpoint"])

        def item(job_id: str) -> dict:
            return ddb.get_item(TableName=senv["GAS_JOBS_TABLE"], Key={"job_id": {"S": job_id}})["Item"]

        gas(env, "users", "add", "alice", "--email", "alice@example.org")
        job_id = json.loads(gas(env, "submit", str(big_vcf), "--user", "alice", "--json").stdout)["job_id"]
        t_submit = time.monotonic()

        deadline = time.monotonic() + 60                      # RUNNING, progress > 0: mid-run
        while True:
            it = item(job_id)
            if it["status"]["S"] == "RUNNING" and float(it.get("progress", {"N": "0"})["N"]) > 0:
                break
            assert it["status"]["S"] in ("PENDING", "RUNNING"), it
            assert time.monotonic() < deadline, f"job never got going: {it}"
            time.sleep(0.2)
        first_worker = it["worker_id"]["S"]
        victim = json.loads((data / "stack.json").read_text())["children"]["worker-0"]
        os.kill(victim, signal.SIGKILL)
        t_kill = time.monotonic()
        timings["killed_after_submit"] = t_kill - t_submit
        progress_at_kill = float(it["progress"]["N"])

        deadline = time.monotonic() + 75                      # restart, reappear, re-claim, complete
        restarted_pid = None
        while True:
            it = item(job_id)
            pid = json.loads((data / "stack.json").read_text())["children"].get("worker-0")
            if pid != victim and restarted_pid is None:
                restarted_pid = pid
                timings["worker_restarted_after_kill"] = time.monotonic() - t_kill
            if int(it.get("attempts", {"N": "0"})["N"]) >= 2 and "reclaimed_after_kill" not in timings:
                timings["reclaimed_after_kill"] = time.monotonic() - t_kill
            if it["status"]["S"] != "RUNNING":
                break
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"job not finished 75 s after the kill: {it}\n{log.read_text()}"
            time.sleep(0.5)
        timings["completed_after_kill"] = time.monotonic() - t_kill

        assert it["status"]["S"] == "COMPLETED", it
        assert int(it["attempts"]["N"]) == 2, it
        assert it["worker_id"]["S"] != first_worker               # the restarted worker finished it
        assert restarted_pid is not None and restarted_pid != victim
        assert "worker-0" in log.read_text() and "restarting" in log.read_text()

        rows = data_lines(big_vcf)
        job = json.loads(gas(env, "job", job_id, "--user", "alice", "--json").stdout)
        assert job["status"] == "COMPLETED" and job["variants"] == rows
        target = tmp_path / "results.parquet"
        gas(env, "results", job_id, "--user", "alice", "-o", str(target))
        assert len(pd.read_parquet(target)) == rows

        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=senv["GAS_RESULTS_BUCKET"])
                for o in page.get("Contents", []) if job_id in o["Key"]]
        assert len(keys) == len(set(keys)) == 5, keys              # the five outputs, overwritten not doubled

        deadline = time.monotonic() + 15
        while True:
            mine = [m for m in json.loads(gas(env, "outbox", "--json").stdout)
                    if job_id in (m["text"] or "") + (m["subject"] or "") + (m["html"] or "")]
            if mine or time.monotonic() > deadline:
                break
            time.sleep(1)
        time.sleep(2)                                              # a duplicate would arrive by now
        mine = [m for m in json.loads(gas(env, "outbox", "--json").stdout)
                if job_id in (m["text"] or "") + (m["subject"] or "") + (m["html"] or "")]
        assert len(mine) == 1, mine
        timings["total"] = time.monotonic() - t0
        print(f"\nkill at progress {progress_at_kill:.2f}; timings (s): "
              + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    finally:
        stop(proc)
