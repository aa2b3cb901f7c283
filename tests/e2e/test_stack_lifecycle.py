"""Free and premium plans on the embedded stack: archive after the wait, refuse, subscribe, restore.

`gas up --archive-delay 3 --restore-delay 2` runs the real state machine wait, the archive, thaw and
restore functions through the pollers, and moto's Glacier restore with the stack's completion read.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.stackproc import ROOT, gas, stop
from tests.e2e.stackproc import start as start_stack

pytestmark = pytest.mark.slow
EXAMPLE = ROOT / "examples" / "course-test.vcf"


def results_state(env: dict, job_id: str, user: str) -> str:
    return json.loads(gas(env, "job", job_id, "--user", user, "--json").stdout)["results"]


def wait_for(env: dict, job_id: str, user: str, state: str, timeout_s: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if results_state(env, job_id, user) == state:
            return time.monotonic() - t0
        time.sleep(0.5)
    raise AssertionError(f"{job_id}: results still {results_state(env, job_id, user)!r}, wanted {state!r}")


def test_free_job_archived_refused_then_restored_on_subscribe_premium_never_archived(tmp_path: Path) -> None:
    env = {**os.environ, "GAS_DATA_DIR": str(tmp_path / "data")}
    proc = start_stack(env, tmp_path / "up.log", extra=["--archive-delay", "3", "--restore-delay", "2"])
    try:
        gas(env, "users", "add", "fay", "--email", "fay@example.org")
        gas(env, "users", "add", "pat", "--email", "pat@example.org", "--plan", "premium")
        free = json.loads(gas(env, "submit", str(EXAMPLE), "--user", "fay", "--wait", "--json").stdout)["job_id"]
        paid = json.loads(gas(env, "submit", str(EXAMPLE), "--user", "pat", "--wait", "--json").stdout)["job_id"]

        wait_for(env, free, "fay", "archived", 30)
        refused = gas(env, "results", free, "--user", "fay", "-o", str(tmp_path / "x.parquet"), check=False)
        assert refused.returncode == 1
        assert "results are archived; upgrade to premium to restore them" in refused.stderr
        assert not (tmp_path / "x.parquet").exists()

        out = json.loads(gas(env, "subscribe", "fay", "--json").stdout)
        assert out["plan"] == "premium" and out["thaw_requests"] == 1
        wait_for(env, free, "fay", "available", 60)
        gas(env, "results", free, "--user", "fay", "-o", str(tmp_path / "free.parquet"))
        assert len(pd.read_parquet(tmp_path / "free.parquet")) == 359          # one row per ALT

        time.sleep(5)                                     # well past the 3 s archive delay
        assert results_state(env, paid, "pat") == "available"                 # premium: never archived
        gas(env, "results", paid, "--user", "pat", "-o", str(tmp_path / "paid.parquet"))
    finally:
        stop(proc)
