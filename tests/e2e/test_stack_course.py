"""The embedded stack end to end, as a user drives it: `gas up` in a subprocess, the CLI from outside.

Two users submit the course VCFs; every job completes, each gets exactly one email, results load
with one row per ALT allele, another user's job stays invisible, and a stop and start keeps every job.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.stackproc import gas, start, stop
from tests.integration.test_course_vcfs import FILES, alt_alleles

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not FILES, reason="course VCFs not present")]


def test_two_users_course_vcfs_emails_results_and_restart(tmp_path: Path) -> None:
    env = {**os.environ, "GAS_DATA_DIR": str(tmp_path / "data")}
    proc = start(env, tmp_path / "up.log")
    try:
        for name in ("alice", "bob"):
            gas(env, "users", "add", name, "--email", f"{name}@example.org")
        jobs: dict[str, tuple[str, Path]] = {}
        for i, vcf in enumerate(FILES):
            user = ("alice", "bob")[i % 2]
            out = json.loads(gas(env, "submit", str(vcf), "--user", user, "--wait", "--json").stdout)
            assert out["status"] == "COMPLETED", out
            assert out["variants"] == alt_alleles(vcf)[0]
            jobs[out["job_id"]] = (user, vcf)
        for job_id, (user, vcf) in jobs.items():
            target = tmp_path / f"{job_id}.parquet"
            gas(env, "results", job_id, "--user", user, "-o", str(target))
            assert len(pd.read_parquet(target)) == alt_alleles(vcf)[1]
            other = "bob" if user == "alice" else "alice"
            refused = gas(env, "job", job_id, "--user", other, "--json", check=False)
            assert refused.returncode != 0 and "no such job" in refused.stderr
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            mail = json.loads(gas(env, "outbox", "--json").stdout)
            if len(mail) >= len(jobs):
                break
            time.sleep(1)
        assert len(mail) == len(jobs)                           # exactly one email per job
        assert sorted(m["to"] for m in mail) == sorted(f"{u}@example.org" for u, _ in jobs.values())
    finally:
        stop(proc)

    proc = start(env, tmp_path / "up2.log")                     # a stop and start keeps every job
    try:
        for name in ("alice", "bob"):
            listed = json.loads(gas(env, "jobs", "--user", name, "--json").stdout)
            mine = {j for j, (u, _) in jobs.items() if u == name}
            assert {j["job_id"] for j in listed} == mine
            assert all(j["status"] == "COMPLETED" and j["results"] == "available" for j in listed)
        assert len(json.loads(gas(env, "outbox", "--json").stdout)) == len(jobs)   # no email resent
    finally:
        stop(proc)
